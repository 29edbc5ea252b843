"""The command-line flags of the policy service, shared by the two programs that host it.

`exportgate-sidecar` and `exportgate-webhook --sidecar embedded` take the same flags for the
same settings (where tenants and policies come from, the decision log, the cache), so a platform
engineer moving between the two keeps their meaning, and the help text lives here once.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from exportgate.core.types import Action
from exportgate.service.config import (
    CacheConfig,
    ConfigError,
    ListenConfig,
    SidecarConfig,
    SourceConfig,
)
from exportgate.service.sources.files import startup_problems

_DEFAULTS = SidecarConfig(decision_log=Path("-"))


def add_service_arguments(
    parser: argparse.ArgumentParser, *, kubeconfig: bool = True, log_required: bool = True
) -> None:
    """Add the groups "tenants and policies" and "decisions" to `parser`.

    `kubeconfig=False` when the program has its own --kubeconfig (the service uses it too);
    `log_required=False` when the decision log is needed only in some modes (the program then
    checks it)."""
    src = parser.add_argument_group("tenants and policies")
    src.add_argument(
        "--source",
        choices=("files", "kube"),
        default="files",
        help="read Tenant/ExportPolicy documents from files, or watch them in the cluster",
    )
    src.add_argument(
        "--tenants", nargs="+", type=Path, default=[], metavar="PATH",
        help="Tenant files or directories (files source)",
    )  # fmt: skip
    src.add_argument(
        "--policies", nargs="+", type=Path, default=[], metavar="PATH",
        help="ExportPolicy files or directories (files source)",
    )  # fmt: skip
    src.add_argument(
        "--poll-interval", type=float, default=_DEFAULTS.source.poll_interval, metavar="SECONDS",
        help="how often the files are checked for changes",
    )  # fmt: skip
    if kubeconfig:
        src.add_argument(
            "--kubeconfig", type=Path, metavar="FILE",
            help="kubeconfig for --source kube (default: in-cluster, then $KUBECONFIG)",
        )  # fmt: skip
    src.add_argument(
        "--packs", nargs="*", metavar="PACK",
        help="built-in policy packs to enable (default: the packs enabled by default; "
        "give no names to disable them all)",
    )  # fmt: skip
    src.add_argument(
        "--default-action", choices=[a.value for a in Action],
        help="action of rules that set none (dryrun to roll out without denying)",
    )  # fmt: skip

    dec = parser.add_argument_group("decisions")
    dec.add_argument(
        "--decision-log", type=Path, required=log_required, metavar="FILE",
        help="hash-chained decision log; every decision is written here before it is answered",
    )  # fmt: skip
    dec.add_argument("--cache-size", type=int, default=_DEFAULTS.cache.max_entries, metavar="N",
                     help="decisions kept in the cache (0 disables it)")  # fmt: skip
    dec.add_argument("--cache-ttl", type=float, default=_DEFAULTS.cache.ttl, metavar="SECONDS",
                     help="longest a cached decision is reused")  # fmt: skip
    dec.add_argument(
        "--reuse-window", type=float, default=_DEFAULTS.reuse_window, metavar="SECONDS",
        help="how long a delivered decision may be answered again, without a second log record, "
        "to a caller naming it for the identical item (the webhook's validating phase after its "
        "mutating phase); 0 disables reuse",
    )  # fmt: skip
    dec.add_argument(
        "--min-time-remaining", type=float, default=_DEFAULTS.min_time_remaining * 1000,
        metavar="MS", help="refuse calls with less of their deadline left (DEADLINE_EXCEEDED)",
    )  # fmt: skip
    dec.add_argument(
        "--max-batch-items", type=int, default=_DEFAULTS.max_batch_items, metavar="N",
        help="largest Evaluate batch accepted (bigger ones get RESOURCE_EXHAUSTED)",
    )  # fmt: skip
    dec.add_argument(
        "--log-close-timeout", type=float, default=_DEFAULTS.log_close_timeout, metavar="SECONDS",
        help="on shutdown, how long closing the decision log may wait for its last fsync; past "
        "it (a hung disk) the program exits at once with status 1, saying so",
    )  # fmt: skip


def _service_flags() -> dict[str, str]:
    """Each service flag by its argparse destination, read off the groups themselves (so the
    table cannot drift from them); --kubeconfig is left out, a hosting program may own it."""
    probe = argparse.ArgumentParser(add_help=False)
    add_service_arguments(probe, kubeconfig=False)
    return {action.dest: action.option_strings[0] for action in probe._actions}


SERVICE_FLAGS = _service_flags()
"""Each flag's argparse destination; a program tells from these which were given."""


def given_service_flags(parser: argparse.ArgumentParser, args: argparse.Namespace) -> list[str]:
    """The service flags `args` sets to something other than their defaults."""
    return [
        flag
        for dest, flag in SERVICE_FLAGS.items()
        if getattr(args, dest, None) != parser.get_default(dest)
    ]


def service_config_from_args(
    args: argparse.Namespace,
    *,
    listen: ListenConfig,
    metrics_port: int | None = None,
    metrics_address: str = _DEFAULTS.metrics_address,
    shutdown_grace: float = _DEFAULTS.shutdown_grace,
) -> SidecarConfig:
    """The service's settings from the flags of `add_service_arguments`; raises `ConfigError`
    for a wrong combination, or tenant/policy files that cannot be served."""
    config = SidecarConfig(
        decision_log=args.decision_log,
        source=SourceConfig(
            kind=args.source,
            tenant_paths=tuple(args.tenants),
            policy_paths=tuple(args.policies),
            poll_interval=args.poll_interval,
            kubeconfig=args.kubeconfig,
        ),
        listen=listen,
        cache=CacheConfig(max_entries=args.cache_size, ttl=args.cache_ttl),
        packs=tuple(args.packs) if args.packs is not None else None,
        default_action=Action(args.default_action) if args.default_action else None,
        metrics_port=metrics_port,
        metrics_address=metrics_address,
        min_time_remaining=args.min_time_remaining / 1000,
        max_batch_items=args.max_batch_items,
        reuse_window=args.reuse_window,
        shutdown_grace=shutdown_grace,
        log_close_timeout=args.log_close_timeout,
    )
    config.validate()
    if config.source.kind == "files":
        problems = startup_problems(config.source.tenant_paths, config.source.policy_paths)
        if problems:
            raise ConfigError("cannot serve these tenant/policy files:\n  " + "\n  ".join(problems))
    return config
