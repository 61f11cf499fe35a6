"""``diffusiontalker``: one command line, one sub-command per job.

Each job's module owns its own arguments (``add_cli(subparsers)``) next to the code
they configure, and imports torch only when run, so ``--help`` is instant.
"""

from __future__ import annotations

import argparse
import atexit
import importlib
import os
import signal
import sys

from . import __version__
from .allocator import keep_freed_memory
from .errors import DiffusionTalkerError

# Modules (relative to this package) that contribute sub-commands, in --help order.
COMMAND_MODULES = ("generate", "phonetics", "data", "train", "distill", "evaluate", "new_style")

EPILOG = """\
examples:
  diffusiontalker generate speech.wav -o take.npz            # bundled demo checkpoint
  diffusiontalker generate speech.wav -o take.npz --style auto --seed 7
  diffusiontalker generate speech.wav -o frames/ --format obj --template head.ply

Run 'diffusiontalker COMMAND --help' for each command's options.
"""


class _Parser(argparse.ArgumentParser):
    """A mistyped option is one line naming it, as every other bad input is: argparse's
    own error prints the whole usage block first, twenty lines for generate."""

    def error(self, message: str):
        self.exit(2, f"{self.prog}: error: {message} (see {self.prog} --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="diffusiontalker",
        description="Speech-driven 3D facial animation by diffusion (DiffusionTalker reconstruction).",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    sub.required = True
    for name in COMMAND_MODULES:
        importlib.import_module(f".{name}", __package__).add_cli(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        args = build_parser().parse_args(argv)
    except KeyboardInterrupt:  # Ctrl-C while the commands' modules (torch among them) still load
        named = [a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")][:1]
        return _interrupted(" ".join(["diffusiontalker", *named]))
    try:
        return int(args.run(args) or 0)
    except DiffusionTalkerError as exc:
        print(f"diffusiontalker {args.command}: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # a disk that fills up, a folder that cannot be made: the file and why, no traceback
        where = f"{exc.filename}: " if exc.filename else ""
        print(f"diffusiontalker {args.command}: error: {where}{exc.strerror or exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return _interrupted(f"diffusiontalker {args.command}")


def _interrupted(who: str) -> int:
    print(f"{who}: interrupted", file=sys.stderr)
    return 130


def run() -> None:
    """The installed command (and ``python -m``): ``main`` with glibc's allocator tuned
    for torch on a CPU, which tests and other callers of ``main`` keep out of their process."""
    keep_freed_memory()
    code = main()
    if code == 130:  # interrupted: a second Ctrl-C would land in Python's exit and print a traceback
        signal.signal(signal.SIGINT, signal.SIG_IGN)
    _leave(code)


def _leave(code: int) -> None:
    """Exit without Python's teardown of its modules, which once torch is imported takes
    half a second (0.46 s after ``import torch`` alone, 2 cores; a sixth of ``generate``
    on 30 s with its transcript). Every command has written and closed what it makes by
    now; the functions registered to run at exit still run (and finalizers registered
    for it, such as a temporary folder's), and the output is flushed."""
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):  # a closed pipe or stream: nothing more can reach it
            pass
    os._exit(code)


if __name__ == "__main__":
    run()
