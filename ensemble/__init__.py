"""The ensemble: fuse any branches that write predictions artifacts (``fer_core.artifact``).

Modules (one concern each):

* ``labels``    declared label-space mappings (plug-in ``label_map`` / ``--label-map FILE.toml``)
* ``inputs``    load run directories, refuse unsafe input (leakage, id mismatch, ...), align on sample ids
* ``methods``   fusion strategies: mean, logpool (product of experts), stacking
* ``fusion``    fit + calibrate a fusion; ``FittedFusion`` applies a saved one to new samples
* ``fuse``      ``fer ensemble fuse``: the fused run directory
* ``ablate``    ``fer ensemble ablate``: every subset of branches
* ``conformal`` split-conformal prediction sets (LAC, APS)
* ``tables``    JSON/CSV/Markdown tables
* ``cli``       ``fer ensemble ...``

Format and protocol: docs/ensemble.md.
"""
