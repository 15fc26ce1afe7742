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


def add_device_argument(parser: argparse.ArgumentParser) -> None:
    """``--device``, the same flag on every command that runs a network (resolved by ``fer_core.device``)."""
    parser.add_argument("--device", default="auto",
                        help="auto (CUDA when available, the default), cpu, cuda or cuda:N")


def subcommands(parser: argparse.ArgumentParser, path: str = "fer"):
    """(``fer face train``, its parser, its one-line help) for every command below ``parser``, depth first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            help_lines = {choice.dest: choice.help for choice in action._choices_actions}
            for name, child in action.choices.items():
                yield f"{path} {name}", child, help_lines.get(name)
                yield from subcommands(child, f"{path} {name}")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="fer",
        description="Multimodal emotion recognition: train face/landmark/speech branches, calibrate, fuse, inspect.",
    )
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in SUBCOMMANDS.values():
        importlib.import_module(module).register(sub)
    for _, command, help_line in subcommands(parser):
        if not command.description and help_line:  # else its --help would show no line about what it does
            command.description = help_line[0].upper() + help_line[1:] + "."
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
