"""`python -m bench.stagetrace FILE`: the stage table of a trace (see bench/stagetrace)."""

from __future__ import annotations

import sys
from pathlib import Path

from bench.stagetrace.report import report


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m bench.stagetrace TRACE_FILE", file=sys.stderr)
        return 2
    path = Path(argv[0])
    if not path.is_file():
        print(f"{path}: no such file (was the webhook run with EXPORTGATE_STAGE_TRACE?)",
              file=sys.stderr)  # fmt: skip
        return 2
    print(report(path))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
