"""Helpers shared by eval's reports: how a run is reproduced."""

from __future__ import annotations

import shlex
import sys
from pathlib import Path

EVAL_README = Path(__file__).with_name("README.md")


def command_line(argv: list[str] | None = None) -> str:
    """The command that reproduces this run, as typed (``verbatim eval ...``).

    Args:
        argv: The arguments after the program name (default: this process's).

    Returns:
        ``verbatim`` followed by the arguments, shell-quoted.
    """
    words = list(sys.argv[1:] if argv is None else argv)
    return "verbatim " + shlex.join(words)
