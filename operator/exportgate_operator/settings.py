"""Operator configuration: command-line flags, and the kopf settings derived from them."""

from __future__ import annotations

import argparse
import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass

import kopf

from exportgate.core.policy import builtin_packs
from exportgate.logsetup import LEVELS

DEFAULT_PEERING = "exportgate-operator"
ANNOTATION_PREFIX = "operator.exportgate.dev"
BOOKKEEPING = "operator"  # kopf's bookkeeping goes to status.operator
DEFAULT_TENANT_GROUP_FORMAT = "exportgate:tenant:{name}"


@dataclass(frozen=True, slots=True)
class OperatorConfig:
    namespaces: tuple[str, ...] = ()
    """Namespaces whose workloads and ModelEndpoints are handled; empty means cluster-wide."""
    kubeconfig: str | None = None
    context: str | None = None
    peering: str = DEFAULT_PEERING
    standalone: bool = False
    priority: int = 0
    liveness: str | None = None  # e.g. http://0.0.0.0:8080/healthz
    decision_log: str | None = None
    log_close_timeout: float = 10.0
    """Seconds closing the decision log may wait for its last fsync at shutdown; past them the
    operator logs that the last records may not be durable and exits with status 1."""
    packs: tuple[str, ...] | None = None
    report_max_results: int = 100
    message_max_chars: int = 1024
    label_nodes: bool = True
    resync_seconds: float = 300.0
    """Longest a tenant's expiry timer sleeps before checking the clock again."""
    audit_interval: float = 3600.0
    """Seconds between periodic re-audits of each tenant; 0 turns them off."""
    log_level: str = "info"
    log_json: bool = True
    tenant_reader_roles: bool = True
    """Maintain a ClusterRole per Tenant letting that tenant's group read only its Tenant."""
    tenant_group_format: str = DEFAULT_TENANT_GROUP_FORMAT
    """The group a tenant's users are in; `{name}` is replaced by the Tenant's name."""
    compute_interval: float = 60.0
    """Compute accounting checkpoint interval in seconds (0: accounting off)."""
    metrics_port: int | None = None
    """Port of the Prometheus /metrics endpoint (compute accounting); None: not served."""

    @property
    def clusterwide(self) -> bool:
        return not self.namespaces


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exportgate-operator",
        description="Keeps Tenant/ExportPolicy/ModelEndpoint statuses, re-audits workloads, "
        "writes PolicyReports, labels GPU nodes with their export class and accounts "
        "accelerator use per run and tenant (ComputeRun records).",
    )
    scope = parser.add_mutually_exclusive_group()
    scope.add_argument(
        "--namespace",
        "-n",
        action="append",
        default=[],
        help="handle only this namespace's workloads (repeatable); Tenants, ExportPolicies "
        "and Nodes are cluster-scoped and always handled",
    )
    scope.add_argument(
        "--all-namespaces",
        "-A",
        action="store_true",
        help="handle every namespace (the default)",
    )
    parser.add_argument("--kubeconfig", help="kubeconfig file (default: in-cluster, $KUBECONFIG)")
    parser.add_argument("--context", help="kubeconfig context")
    parser.add_argument(
        "--peering",
        default=DEFAULT_PEERING,
        help="kopf peering name: replicas sharing it elect one active operator",
    )
    parser.add_argument(
        "--standalone", action="store_true", help="no peering (a single replica only)"
    )
    parser.add_argument(
        "--priority",
        type=int,
        default=None,
        help="peering priority; the highest live replica is the active one (default: random, "
        "so replicas of one Deployment never tie, which kopf would resolve by running both)",
    )
    parser.add_argument(
        "--liveness",
        default="http://0.0.0.0:8080/healthz",
        help="liveness endpoint URL to serve ('' to disable)",
    )
    parser.add_argument("--decision-log", help="append re-audit decisions to this log file")
    parser.add_argument(
        "--log-close-timeout",
        type=float,
        default=10.0,
        metavar="SECONDS",
        help="at shutdown, how long closing the decision log may wait for its last fsync "
        "(a hung disk); past it the operator exits with status 1 (default: 10)",
    )
    parser.add_argument(
        "--packs",
        help="comma-separated built-in policy packs (default: the enabled-by-default ones)",
    )
    parser.add_argument(
        "--report-max-results",
        type=int,
        default=100,
        help="results kept per PolicyReport; the rest only count in the summary",
    )
    parser.add_argument(
        "--no-node-labels", action="store_true", help="do not label nodes with their class"
    )
    parser.add_argument(
        "--resync-seconds",
        type=float,
        default=300.0,
        help="longest a tenant's expiry timer sleeps between clock checks",
    )
    parser.add_argument(
        "--audit-interval",
        type=float,
        default=3600.0,
        help="seconds between periodic re-audits of each tenant's workloads (0: only on "
        "changes and expiry)",
    )
    parser.add_argument(
        "--tenant-group-format",
        default=DEFAULT_TENANT_GROUP_FORMAT,
        help="the group a tenant's users authenticate in; {name} is the Tenant's name "
        "(default: %(default)s)",
    )
    parser.add_argument(
        "--no-tenant-reader-roles",
        action="store_true",
        help="do not maintain the per-tenant ClusterRole/ClusterRoleBinding that lets a "
        "tenant's group read its own Tenant",
    )
    parser.add_argument(
        "--compute-interval",
        type=float,
        default=60.0,
        help="compute accounting checkpoint interval in seconds: the most a restart can lose "
        "of a Pod deleted meanwhile (0: no compute accounting; default: %(default)s)",
    )
    parser.add_argument(
        "--metrics-port",
        type=int,
        default=None,
        help="serve Prometheus metrics (compute accounting) on this port (default: off)",
    )
    parser.add_argument("--log-level", default="info", choices=LEVELS)
    parser.add_argument("--log-format", choices=("json", "console"), default="json")
    return parser


def parse_args(argv: Sequence[str] | None = None) -> OperatorConfig:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.report_max_results < 1:
        parser.error("--report-max-results must be at least 1")
    packs = tuple(p.strip() for p in args.packs.split(",") if p.strip()) if args.packs else None
    if not valid_group_format(args.tenant_group_format):
        parser.error("--tenant-group-format must contain {name} and no other {field}")
    unknown = sorted(set(packs or ()) - set(builtin_packs()))
    if unknown:
        parser.error(
            f"unknown policy pack {unknown[0]!r}; available: {', '.join(sorted(builtin_packs()))}"
        )
    return OperatorConfig(
        namespaces=tuple(dict.fromkeys(args.namespace)),
        kubeconfig=args.kubeconfig,
        context=args.context,
        peering=args.peering,
        standalone=args.standalone,
        priority=args.priority if args.priority is not None else secrets.randbelow(2**31) + 1,
        liveness=args.liveness or None,
        decision_log=args.decision_log,
        log_close_timeout=max(0.0, args.log_close_timeout),
        packs=packs,
        report_max_results=args.report_max_results,
        label_nodes=not args.no_node_labels,
        resync_seconds=args.resync_seconds,
        audit_interval=args.audit_interval,
        log_level=args.log_level,
        log_json=args.log_format == "json",
        tenant_reader_roles=not args.no_tenant_reader_roles,
        tenant_group_format=args.tenant_group_format,
        compute_interval=max(0.0, args.compute_interval),
        metrics_port=args.metrics_port or None,
    )


def valid_group_format(template: str) -> bool:
    """True when `template` names the tenant exactly through `{name}`: a format without it
    would bind every tenant's role to one group, letting each read all the others."""
    try:
        return "{name}" in template and template.format(name="x") != template.format(name="y")
    except (KeyError, IndexError, ValueError):
        return False


def apply_kopf_settings(settings: kopf.OperatorSettings, config: OperatorConfig) -> None:
    """Tune kopf for this operator.

    kopf's progress and diff-base live in `status.operator` (the CRDs preserve that field), so
    the operator writes only status subresources and needs no write access to any spec. Only
    warnings become Events: the operator posts its own, meaningful Events, and "handler
    succeeded" noise would drown them.
    """
    settings.persistence.progress_storage = kopf.StatusProgressStorage(name=BOOKKEEPING)
    settings.persistence.diffbase_storage = kopf.StatusDiffBaseStorage(name=BOOKKEEPING)
    settings.persistence.finalizer = f"{ANNOTATION_PREFIX}/finalizer"
    settings.posting.level = logging.WARNING
    settings.peering.name = config.peering
    settings.peering.priority = config.priority
    settings.peering.standalone = config.standalone
    settings.peering.clusterwide = config.clusterwide
    settings.peering.mandatory = not config.standalone
    # Back off quickly in tests and after API hiccups; a handler that fails is retried.
    settings.execution.max_workers = 4
    settings.queueing.error_delays = (1, 2, 5, 10, 30, 60)
    settings.watching.server_timeout = 300
    settings.watching.client_timeout = 330
