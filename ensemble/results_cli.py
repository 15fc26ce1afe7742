"""``fer results`` (list, index, pack) and ``fer reproduce``: the published entries of results/published.toml."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

RESULTS_HELP = "results folder holding published.toml (default: $FER_RESULTS_DIR, else ./results)"


def register(sub) -> None:
    res = sub.add_parser("results", help="the published results: list them, write results/index.md and index.csv, pack them")
    rsub = res.add_subparsers(dest="results_command", metavar="ACTION", required=True)
    ls = rsub.add_parser("list", help="published entries, their folders and the commands that make them")
    ls.add_argument("--results", type=Path, help=RESULTS_HELP)
    ls.set_defaults(func=run_list)
    ix = rsub.add_parser("index", help="write results/index.md and index.csv from the entries' metrics files")
    ix.add_argument("--results", type=Path, help=RESULTS_HELP)
    ix.set_defaults(func=run_index)
    pk = rsub.add_parser("pack", help="gzip the predictions artifacts of the published folders (about a third of "
                                      "the size; every reader takes predictions/<split>.json or .json.gz)")
    pk.add_argument("--results", type=Path, help=RESULTS_HELP)
    pk.set_defaults(func=run_pack)

    rep = sub.add_parser(
        "reproduce", help="train a published entry (or all) from its recipe into runs/",
        description="Run the commands of published entries (results/published.toml), the entries they need first, "
                    "into runs/ (never into results/); an entry's run is its last command's --out. A step already done "
                    "is skipped (a finished run, an export, a teacher, Training predictions), a killed training "
                    "resumes, the first failure stops everything. --dry-run trains nothing: it resolves every recipe "
                    "and checks it against the committed run's config.json, and every fusion member against the "
                    "run the committed fusion was fit on.")
    rep.add_argument("names", nargs="+", metavar="NAME|all", help="entry names ('fer results list'), or all")
    rep.add_argument("--dry-run", action="store_true", help="check, do not train")
    rep.add_argument("--results", type=Path, help=RESULTS_HELP)
    rep.set_defaults(func=run_reproduce)


def run_list(args: argparse.Namespace) -> int:
    from ensemble.published import load_registry

    registry = load_registry(args.results)
    width = max(len(e.name) for e in registry.entries) + 2
    for e in registry.entries:
        print(f"{e.name:<{width}}{e.kind:<11}results/{e.folder}")
        for c in e.commands:
            print(f"{'':<{width}}  {c}")
    return 0


def run_index(args: argparse.Namespace) -> int:
    from ensemble.published import load_registry
    from ensemble.results_index import write_index

    md, csv_path = write_index(load_registry(args.results))
    print(f"wrote {md} and {csv_path}")
    return 0


def run_pack(args: argparse.Namespace) -> int:
    from ensemble.published import load_registry, pack_predictions

    written = pack_predictions(load_registry(args.results))
    for path in written:
        print(f"packed {path} ({path.stat().st_size / 1e3:.0f} kB)")
    print(f"{len(written)} artifact{'' if len(written) == 1 else 's'} packed")
    return 0


def run_reproduce(args: argparse.Namespace) -> int:
    from ensemble.published import load_registry
    from ensemble.reproduce import dry_run, run_entry

    registry = load_registry(args.results)
    names = [e.name for e in registry.entries] if "all" in args.names else args.names
    entries = registry.with_needs(names)
    for entry in entries:
        if args.dry_run:
            for line in dry_run(entry, registry):
                print(f"ok  {entry.name}: {line}")
        else:
            run_entry(entry, echo=lambda text: print(text, file=sys.stderr, flush=True))
    if args.dry_run:
        print(f"{len(entries)} published entr{'y' if len(entries) == 1 else 'ies'} checked; nothing was trained")
    return 0
