"""`exportgate-operator`: run the operator (see `exportgate-operator --help`)."""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import NoReturn

from exportgate.logsetup import configure_logging, get_logger
from exportgate_operator.runner import LogCloseStalled, run
from exportgate_operator.settings import parse_args


def main(argv: Sequence[str] | None = None) -> int:
    config = parse_args(argv)
    configure_logging(config.log_level, json=config.log_json)
    get_logger("exportgate_operator").info(
        "starting",
        namespaces=list(config.namespaces) or "all",
        peering="standalone" if config.standalone else config.peering,
        liveness=config.liveness,
        decision_log=config.decision_log,
    )
    try:
        run(config)
    except KeyboardInterrupt:
        return 130
    except LogCloseStalled as exc:
        exit_stalled(exc)
    return 0


def exit_stalled(exc: LogCloseStalled) -> NoReturn:
    """End now: a thread is stuck in the kernel on the hung disk, and the interpreter's normal
    exit would wait for it (thread pools are joined at exit). The re-audit records the log did
    not sync may be lost; annotations and Events already published say what they found."""
    get_logger("exportgate_operator").error(
        "shutdown stalled: exiting without the decision log's last fsync", error=str(exc)
    )
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(1)


if __name__ == "__main__":
    sys.exit(main())
