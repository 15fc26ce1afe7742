"""Text tables about a RAVDESS source: clips per split x emotion, actors per split."""

from __future__ import annotations

import numpy as np

from fer_audio.labels import RAVDESS8
from fer_audio.splits import SPLIT_NAMES, ActorSplit


def data_info_table(ds, split: ActorSplit) -> str:
    emotions = np.asarray([n.emotion for n in ds.names])
    lines = [f"{ds.name} from {ds.source} ({ds.layout}): {len(ds)} clips, {ds.sample_rate} Hz mono, "
             f"{ds.durations().mean():.2f} s mean duration",
             f"split protocol {split.name} (actor-disjoint)", "",
             f"{'split':<11}{'actors':<34}" + "".join(f"{e[:9]:>10}" for e in RAVDESS8) + f"{'total':>8}"]
    for s in SPLIT_NAMES:
        actors = split.actors(s)
        mask = np.isin(ds.actors, actors)
        counts = [int((mask & (emotions == e)).sum()) for e in RAVDESS8]
        text = ",".join(map(str, actors))
        lines.append(f"{s:<11}{text[:33]:<34}" + "".join(f"{c:>10}" for c in counts) + f"{int(mask.sum()):>8}")
    for note in ds.notes:
        lines.append(f"note: {note}")
    return "\n".join(lines)
