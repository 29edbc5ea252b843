"""The `exportgate` command: one entry point, one subcommand per job.

Exit codes are a contract other tools rely on: 0 admitted / intact, 3 something would be denied,
1 an audit found tampering, 2 bad input (the message names the file and what is wrong).
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from exportgate.cli import audit as audit_command
from exportgate.cli import catalogue as catalogue_command
from exportgate.cli import check as check_command
from exportgate.cli import report_compute as report_command

EXIT_BAD_INPUT = 2


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exportgate",
        description="Export-control admission for AI compute and models: evaluate manifests, "
        "verify decision logs, inspect the catalogue, report compute use.",
    )
    subcommands = parser.add_subparsers(dest="command", metavar="COMMAND")
    check_command.register(subcommands)
    catalogue_command.register(subcommands)
    audit_command.register(subcommands)
    report_command.register(subcommands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func = getattr(args, "func", None)
    if func is None:
        parser.print_help(sys.stderr)
        return EXIT_BAD_INPUT
    try:
        return int(func(args))
    except BrokenPipeError:  # `exportgate check ... | head` is fine
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
