"""What every benchmark records next to its numbers (the machine, the exact command), and how it is written."""

from __future__ import annotations

import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path
from typing import Any, Callable


def machine() -> dict[str, Any]:
    import torch

    return {"cpus": os.cpu_count(), "load_average_1m_at_end": round(os.getloadavg()[0], 2),
            "python": platform.python_version(), "torch": torch.__version__, "platform": platform.platform()}


def write_record(path: Path, result: dict[str, Any]) -> None:
    """Add the machine and the command line, write ``path`` atomically and print the record."""
    from fer_core.atomic import write_json

    result = {**result, "machine": machine(), "command": "python " + " ".join(sys.argv)}
    write_json(path, result)
    print(json.dumps(result, indent=2))


def timings_ms(fn: Callable[[], Any], repeats: int) -> list[float]:
    """Wall milliseconds of ``repeats`` calls of ``fn`` after one warm-up call, sorted."""
    fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return sorted(times)


def median_ms(fn: Callable[[], Any], repeats: int) -> float:
    return round(statistics.median(timings_ms(fn, repeats)), 2)
