"""The demo: `make demo` (or `.venv/bin/python -m scripts.demo` once the binaries are built).

Starts a real local API server, exportgate's CRDs, sidecar, webhook and operator, then shows
what tenants see when they ask for controlled accelerators and models, what happens when a
verification expires, and that the decision log verifies. Everything is torn down at the end,
on failure and on Ctrl-C / SIGTERM.

Exit status: 0 when every expected outcome happened; 1 when one did not (each is listed);
2 when the stack could not be started; 130 when interrupted.
"""

from __future__ import annotations

import argparse
import os
import shutil
import signal
import sys
import tempfile
import time
import traceback
from collections.abc import Sequence
from pathlib import Path
from types import FrameType

from scripts.demo_stack import Stack, StackError
from scripts.demo_story import Story
from scripts.demo_ui import Console, Scorecard
from tests.cluster.local_cluster import ClusterError

EXIT_OK, EXIT_UNEXPECTED, EXIT_SETUP, EXIT_INTERRUPTED = 0, 1, 2, 130


class Interrupted(BaseException):
    """SIGTERM/SIGHUP: unwind like Ctrl-C so every `finally` tears down."""


def _on_signal(signum: int, _frame: FrameType | None) -> None:
    raise Interrupted(signal.Signals(signum).name)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m scripts.demo",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--workdir",
        type=Path,
        help="keep certificates, manifests, logs and the decision log here (default: a "
        "temporary directory, removed at the end unless something failed)",
    )
    parser.add_argument(
        "--expiry-seconds",
        type=float,
        default=20.0,
        help="how far ahead the expiring tenant's verification ends (default %(default)s)",
    )
    colour = parser.add_mutually_exclusive_group()
    colour.add_argument("--color", dest="colour", action="store_true", default=None)
    colour.add_argument("--no-color", dest="colour", action="store_false")
    return parser


def _leftovers(pids: Sequence[int]) -> list[int]:
    alive = []
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        except PermissionError:
            pass
        alive.append(pid)
    return alive


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    console = Console(colour=args.colour)
    score = Scorecard(console)
    keep = args.workdir is not None
    workdir = (args.workdir or Path(tempfile.mkdtemp(prefix="exportgate-demo-"))).resolve()
    workdir.mkdir(parents=True, exist_ok=True)
    for sig in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, _on_signal)
    # A shell without job control starts background commands with SIGINT ignored, and Python
    # keeps an inherited SIG_IGN: Ctrl-C (or `kill -INT`) must tear the demo down however it
    # was started.
    signal.signal(signal.SIGINT, signal.default_int_handler)
    stack = Stack(workdir, console)
    began = time.monotonic()
    code = EXIT_OK
    try:
        Story(stack, console, score, args.expiry_seconds).run()
        code = EXIT_UNEXPECTED if score.failures else EXIT_OK
    except (KeyboardInterrupt, Interrupted) as exc:
        console.blank()
        console.step(f"interrupted ({exc or 'Ctrl-C'}): tearing down")
        code = EXIT_INTERRUPTED
    except (StackError, ClusterError) as exc:
        console.blank()
        console.step(f"setup failed: {exc}")
        code = EXIT_SETUP
    except Exception:
        console.blank()
        console.step("the demo itself failed:")
        console.output(traceback.format_exc())
        code = EXIT_SETUP
    finally:
        # Signals during teardown must not interrupt it.
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_IGN)
        pids = stack.pids()
        stack.stop()
        left = _leftovers(pids)
    console.blank()
    console.step(
        f"torn down: {len(pids)} processes stopped"
        + (f", STILL RUNNING: {left}" if left else ", none left running")
    )
    if left and code == EXIT_OK:
        code = EXIT_UNEXPECTED
    if code == EXIT_OK and not keep:
        shutil.rmtree(workdir, ignore_errors=True)
    else:
        console.step(f"logs, manifests and the decision log kept in {workdir}")
    console.step(f"{score.summary()} in {time.monotonic() - began:.0f}s")
    for failure in score.failures:
        console.verdict(False, failure)
    return code


if __name__ == "__main__":
    sys.exit(main())
