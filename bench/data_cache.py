"""Decode-once benchmark: first load of FER2013 from the zip (cold cache) vs second load (cache hit).

    python bench/data_cache.py [--data data/fer2013.zip] [--out bench/results/data_cache.json]

Targets: first load from the zip < 30 s on 2 cores, second load of all 35,887 images < 1 s.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench_record import write_record  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    default = Path(os.environ.get("FER_DATA_ROOT", "data")) / "fer2013.zip"
    p.add_argument("--data", type=Path, default=default)
    p.add_argument("--repeats", type=int, default=5, help="cache-hit loads to time (median reported)")
    p.add_argument("--out", type=Path, default=Path("bench/results/data_cache.json"))
    args = p.parse_args()
    if not args.data.is_file():
        print(f"error: {args.data}: FER2013 zip not found; pass --data or set FER_DATA_ROOT", file=sys.stderr)
        return 2
    with tempfile.TemporaryDirectory() as cache:
        os.environ["FER_CACHE_DIR"] = cache  # cold cache, removed afterwards
        from fer_face.data import load_fer2013

        t0 = time.perf_counter()
        ds = load_fer2013(args.data)
        first = time.perf_counter() - t0
        hits = []
        for _ in range(args.repeats):
            t0 = time.perf_counter()
            again = load_fer2013(args.data)
            hits.append(time.perf_counter() - t0)
        assert again.cache_path == ds.cache_path and len(again) == len(ds)
        cache_mb = Path(ds.cache_path).stat().st_size / 2**20
    hits.sort()
    result = {
        "benchmark": "fer2013 decode-once cache",
        "source": str(args.data),
        "images": len(ds),
        "first_load_s": round(first, 3),
        "cache_hit_load_s_median": round(hits[len(hits) // 2], 3),
        "cache_hit_load_s_all": [round(h, 3) for h in hits],
        "cache_file_mb": round(cache_mb, 1),
        "targets": {"first_load_s": 30.0, "cache_hit_load_s": 1.0},
        "meets_targets": first < 30.0 and hits[len(hits) // 2] < 1.0,
    }
    write_record(args.out, result)
    return 0


if __name__ == "__main__":
    sys.exit(main())
