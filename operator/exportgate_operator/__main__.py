"""`exportgate-operator`: run the operator (see `exportgate-operator --help`)."""

from __future__ import annotations

import sys
from collections.abc import Sequence

from exportgate.logsetup import configure_logging, get_logger
from exportgate_operator.runner import run
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
    return 0


if __name__ == "__main__":
    sys.exit(main())
