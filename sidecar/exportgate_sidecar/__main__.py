"""`exportgate-sidecar`: run the policy sidecar.

Standalone (files)::

    exportgate-sidecar --tenants tenants/ --policies policies/ \\
        --decision-log /var/lib/exportgate/decisions.jsonl \\
        --listen unix:///run/exportgate/policy.sock

In a cluster (what the Helm chart runs)::

    exportgate-sidecar --source kube --decision-log /var/lib/exportgate/decisions.jsonl

SIGTERM/SIGINT stop it gracefully (in-flight calls finish); SIGHUP re-reads the files now.
"""

from __future__ import annotations

import argparse
import asyncio
import signal
import sys
from collections.abc import Sequence
from pathlib import Path

import structlog

from exportgate import eventloop
from exportgate.decisionlog import DecisionLogError
from exportgate.heap import HeapSettler
from exportgate.logsetup import LEVELS, configure_logging
from exportgate.service.arguments import add_service_arguments, service_config_from_args
from exportgate.service.config import (
    DEFAULT_UNIX_SOCKET,
    ConfigError,
    ListenConfig,
    SidecarConfig,
)
from exportgate.service.host import ShutdownStalled, exit_stalled
from exportgate_sidecar.server import SidecarServer

log = structlog.get_logger("exportgate.sidecar")


class _HelpFormatter(argparse.HelpFormatter):
    """Shows a flag's default when it has a meaningful one ("default: None" says nothing)."""

    def _get_help_string(self, action: argparse.Action) -> str | None:
        text = action.help or ""
        meaningful = action.default not in (None, [], argparse.SUPPRESS)
        if meaningful and action.option_strings and action.nargs != 0:
            text += " (default: %(default)s)"
        return text


def build_parser() -> argparse.ArgumentParser:
    defaults = SidecarConfig(decision_log=Path("-"))
    p = argparse.ArgumentParser(
        prog="exportgate-sidecar",
        description="exportgate's policy sidecar: decides, logs every decision, then answers.",
        formatter_class=_HelpFormatter,
        epilog="Signals: SIGTERM/SIGINT stop gracefully (in-flight calls finish), SIGHUP "
        "re-reads the tenant and policy files at once. See docs/sidecar.md.",
    )
    add_service_arguments(p)

    net = p.add_argument_group("listening")
    net.add_argument(
        "--listen", default=f"unix://{DEFAULT_UNIX_SOCKET}", metavar="unix://PATH",
        help="Unix socket for the webhook in the same pod",
    )  # fmt: skip
    net.add_argument(
        "--metrics-port", type=int, metavar="PORT",
        help="serve Prometheus /metrics over HTTP on this port (0 picks a free one; "
        "unset: no metrics endpoint)",
    )  # fmt: skip
    net.add_argument(
        "--metrics-address", default=defaults.metrics_address, metavar="ADDRESS",
        help="interface the metrics endpoint listens on",
    )  # fmt: skip

    ops = p.add_argument_group("operation")
    ops.add_argument(
        "--log-level", default="info", choices=LEVELS,
        help="least severe operational log events written to stderr",
    )  # fmt: skip
    ops.add_argument(
        "--log-format", default="json", choices=("json", "console"),
        help="one JSON object per line (for log collectors), or coloured text for a terminal",
    )  # fmt: skip
    ops.add_argument(
        "--shutdown-grace", type=float, default=defaults.shutdown_grace, metavar="SECONDS",
        help="on SIGTERM, how long in-flight calls get to finish before they are cancelled",
    )  # fmt: skip
    return p


def config_from_args(args: argparse.Namespace) -> SidecarConfig:
    listen = args.listen
    if not listen.startswith("unix://"):
        raise ConfigError(f"--listen must be unix://PATH, got {listen!r}")
    unix_socket = Path(listen.removeprefix("unix://"))
    config = service_config_from_args(
        args,
        listen=ListenConfig(unix_socket=unix_socket),
        metrics_port=args.metrics_port,
        metrics_address=args.metrics_address,
        shutdown_grace=args.shutdown_grace,
    )
    return config


async def run(config: SidecarConfig) -> None:
    server = SidecarServer(config, heap=HeapSettler())
    try:
        await server.start()
    except ShutdownStalled as exc:  # start failed, and closing the log then hung
        exit_stalled(exc)
    loop = asyncio.get_running_loop()
    stopping = asyncio.Event()
    loop.add_signal_handler(signal.SIGTERM, stopping.set)
    loop.add_signal_handler(signal.SIGINT, stopping.set)
    loop.add_signal_handler(signal.SIGHUP, lambda: loop.create_task(server.reload()))
    remaining = 0.0  # if we get here by an error, stop at once
    try:
        await stopping.wait()
        log.info("stopping", grace=config.shutdown_grace)
        # Answer what callers already sent, then give in-flight calls what is left of the grace.
        draining_since = loop.time()
        await server.drain(config.shutdown_grace)
        remaining = max(0.0, config.shutdown_grace - (loop.time() - draining_since))
    finally:
        try:
            await server.stop(remaining)
        except ShutdownStalled as exc:
            exit_stalled(exc)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(args.log_level, json=args.log_format == "json")
    try:
        config = config_from_args(args)
        eventloop.run(run(config))
    except (ConfigError, DecisionLogError) as exc:
        log.error("cannot start", error=str(exc))
        print(f"exportgate-sidecar: {exc}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
