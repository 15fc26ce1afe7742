"""The ``fer`` command. Each subcommand lives with its package; this module only dispatches.

Every package's ``cli`` module exposes ``register(subparsers)``; it must import nothing heavy at
module level, so ``fer --help`` stays fast.
"""

from __future__ import annotations

import argparse
import importlib
import os
import shlex
import sys

from fer_core.errors import UserError

# subcommand -> module providing register(subparsers)
SUBCOMMANDS: dict[str, str] = {
    "predict": "ensemble.predict_cli",
    "live": "ensemble.live_cli",
    "models": "ensemble.models_cli",
    "data-info": "fer_face.data.cli",
    "face": "fer_face.cli",
    "landmarks": "fer_face.landmarks.cli",
    "audio": "fer_audio.cli",
    "ensemble": "ensemble.cli",
    "results": "ensemble.results_cli",
    "recalibrate": "fer_core.recalibrate_cli",
    "dashboard": "dashboard.cli",
}


def command_line(argv: list[str] | None = None) -> str:
    """The exact command line of this process, as recorded in configs, artifacts and metrics."""
    args = sys.argv[1:] if argv is None else argv
    return " ".join(["fer", *map(shlex.quote, args)])


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fer",
        description="Multimodal emotion recognition: train face/landmark/speech branches, calibrate, fuse, inspect.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    parser = build_parser()
    args = parser.parse_args(argv)
    args.command_line = command_line(argv)
    try:
        result = args.func(args)
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    return int(result or 0)


if __name__ == "__main__":
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    sys.exit(main())
