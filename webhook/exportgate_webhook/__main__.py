"""`exportgate-webhook`: run the admission webhook.

    exportgate-webhook --tls-cert tls.crt --tls-key tls.key \\
        --sidecar unix:///run/exportgate/policy.sock \\
        --platform-user system:serviceaccount:exportgate-system:exportgate-operator

See docs/webhook.md for every flag and for running the webhook and sidecar together locally.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Coroutine, Sequence
from pathlib import Path
from typing import Any

import structlog

from exportgate import eventloop
from exportgate.core.errors import InputError
from exportgate.decisionlog import DecisionLogError
from exportgate.heap import HeapSettler
from exportgate.logsetup import LEVELS, configure_logging
from exportgate.service.arguments import (
    add_service_arguments,
    given_service_flags,
    service_config_from_args,
)
from exportgate.service.config import ConfigError
from exportgate.service.config import ListenConfig as ServiceListen
from exportgate.service.config import SidecarConfig as ServiceConfig
from exportgate.service.host import ShutdownStalled, exit_stalled
from exportgate.service.local import TARGET as EMBEDDED
from exportgate.service.local import LocalPolicyClient
from exportgate.wire.batch import DEFAULT_MAX_ITEMS
from exportgate_webhook.assemble import build_server
from exportgate_webhook.config import (
    DEFAULT_BUDGET_S,
    DEFAULT_EXEMPT_NAMESPACES,
    DEFAULT_MAX_BODY_BYTES,
    DEFAULT_PLATFORM_GROUPS,
    DEFAULT_PROBE_PORT,
    ClientAuthConfig,
    GuardConfig,
    ListenConfig,
    NamespaceConfig,
    SidecarConfig,
    TLSConfig,
    WebhookConfig,
)

DEFAULT_SIDECAR = SidecarConfig.__dataclass_fields__["target"].default

# On SIGTERM the embedded service finishes the calls in flight before its log closes; the
# webhook's own runners have stopped taking requests by then, so this is only the tail.
_SERVICE_GRACE_S = 5.0

log = structlog.get_logger("exportgate.webhook")


class UsageError(Exception):
    pass


def _host_port(text: str, flag: str) -> tuple[str, int]:
    host, sep, port = text.rpartition(":")
    if not sep or not port.isdigit():
        raise UsageError(f"{flag} {text!r}: write HOST:PORT, e.g. 0.0.0.0:8443 or [::]:8443")
    return host.strip("[]") or "0.0.0.0", int(port)


def _namespace_tenant(text: str) -> tuple[str, str]:
    namespace, sep, tenant = text.partition("=")
    if not sep or not namespace.strip() or not tenant.strip():
        raise UsageError(f"--namespace-tenant {text!r}: write NAMESPACE=TENANT, e.g. team-a=acme")
    return namespace.strip(), tenant.strip()


def _static_bindings(given: Sequence[str]) -> dict[str, str] | None:
    """--namespace-tenant flags as a map. A namespace bound twice is refused rather than
    silently bound to whichever came last; leave a namespace out to have it unbound."""
    bindings: dict[str, str] = {}
    for text in given:
        namespace, tenant = _namespace_tenant(text)
        if namespace in bindings:
            raise UsageError(
                f"--namespace-tenant binds namespace {namespace!r} twice ({bindings[namespace]!r} "
                f"and {tenant!r}); give each namespace once"
            )
        bindings[namespace] = tenant
    return bindings or None


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="exportgate-webhook",
        description="exportgate admission webhook (AdmissionReview v1 over TLS).",
        epilog="Signals: SIGTERM/SIGINT stop gracefully (reviews in flight are answered); with "
        "--sidecar embedded, SIGHUP re-reads the tenant and policy files at once, as "
        "exportgate-sidecar does. See docs/webhook.md.",
    )
    serve = parser.add_argument_group("serving")
    serve.add_argument(
        "--listen", default="0.0.0.0:8443", help="HTTPS address (default %(default)s)"
    )
    serve.add_argument("--tls-cert", type=Path, required=True, help="serving certificate (PEM)")
    serve.add_argument("--tls-key", type=Path, required=True, help="private key (PEM)")
    serve.add_argument(
        "--tls-reload-interval",
        type=float,
        default=5.0,
        metavar="SECONDS",
        help="how often to check the certificate files for changes (default %(default)s)",
    )
    serve.add_argument(
        "--client-ca",
        type=Path,
        default=None,
        metavar="FILE",
        help="PEM bundle of the CAs that sign the API server's client certificate: the HTTPS "
        "port then requires one (mutual TLS) and refuses other callers in the TLS handshake; "
        "reloaded when it changes, like --tls-cert. Probes then belong on --probe-listen "
        "(default: off, any TLS client is served; docs/webhook.md, Client authentication)",
    )
    serve.add_argument(
        "--client-name",
        action="append",
        default=[],
        metavar="NAME",
        help="with --client-ca, accept only client certificates whose subject CN or a DNS SAN "
        "is NAME (repeatable; default: any certificate the CA bundle signed)",
    )
    serve.add_argument(
        "--max-body-bytes",
        type=int,
        default=DEFAULT_MAX_BODY_BYTES,
        help="largest AdmissionReview accepted; larger get HTTP 400 (default %(default)s)",
    )
    serve.add_argument(
        "--max-connections",
        type=int,
        default=ListenConfig().max_connections,
        help="open connections beyond which new ones are reset (default %(default)s)",
    )
    serve.add_argument(
        "--http2",
        action=argparse.BooleanOptionalAction,
        default=ListenConfig().http2,
        help="offer HTTP/2 over ALPN besides HTTP/1.1; the API server then multiplexes its "
        "calls over one connection per API server instead of one per call in flight "
        "(default: off; docs/webhook.md, HTTP/2)",
    )
    serve.add_argument(
        "--max-streams",
        type=int,
        default=ListenConfig().max_streams,
        help="HTTP/2 requests worked on at once per connection (default %(default)s)",
    )
    for flag, name, what in (
        ("--handshake-timeout", "handshake_timeout_s", "to finish the TLS handshake"),
        ("--header-timeout", "header_timeout_s", "to deliver a complete first request"),
        ("--idle-timeout", "idle_timeout_s", "a kept-alive connection may stay idle"),
    ):
        serve.add_argument(
            flag,
            type=float,
            dest=name,
            default=getattr(ListenConfig(), name),
            metavar="SECONDS",
            help=f"time a connection has {what} before it is closed (default %(default)s)",
        )
    serve.add_argument(
        "--probe-listen",
        default=None,
        metavar="HOST:PORT",
        help="also serve /healthz, /readyz, /metrics over plain HTTP here (default: off)",
    )
    policy = parser.add_argument_group("policy sidecar")
    policy.add_argument(
        "--sidecar",
        default=DEFAULT_SIDECAR,
        help="gRPC target of the sidecar's Unix socket, unix:///path; or 'embedded' to run the "
        "policy service in this process, configured by the flags under 'tenants and policies' "
        "and 'decisions' (--decision-log required) (default %(default)s)",
    )
    policy.add_argument(
        "--budget",
        type=float,
        default=DEFAULT_BUDGET_S,
        metavar="SECONDS",
        help="time budget of one review; keep well under the webhook timeoutSeconds "
        "(default %(default)s)",
    )
    policy.add_argument(
        "--sidecar-batch",
        type=int,
        default=DEFAULT_MAX_ITEMS,
        metavar="N",
        help="reviews waiting for the sidecar at the same moment share one call, up to N "
        "(1: each review alone; default %(default)s)",
    )
    guard = parser.add_argument_group("guard")
    guard.add_argument(
        "--platform-user",
        action="append",
        default=[],
        metavar="USER",
        help="username allowed to set tenant labels and edit Tenants and ExportPolicies "
        "(repeatable)",
    )
    guard.add_argument(
        "--platform-group",
        action="append",
        default=None,
        metavar="GROUP",
        help="group with the same rights (repeatable; default: "
        + ", ".join(DEFAULT_PLATFORM_GROUPS)
        + ")",
    )
    guard.add_argument(
        "--kyc-user",
        action="append",
        default=[],
        metavar="USER",
        help="username allowed to create and update Tenants (the KYC team), and nothing else "
        "the guard reserves: no tenant labels, ExportPolicies or deletes (repeatable)",
    )
    guard.add_argument(
        "--kyc-group",
        action="append",
        default=[],
        metavar="GROUP",
        help="group with the same rights as --kyc-user (repeatable; default: none)",
    )
    guard.add_argument(
        "--exempt-namespace",
        action="append",
        default=None,
        metavar="NAMESPACE",
        help="namespace whose objects are not evaluated (repeatable; default: "
        + ", ".join(DEFAULT_EXEMPT_NAMESPACES)
        + ")",
    )
    guard.add_argument(
        "--mutate",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="stamp admitted guarded objects with their decision, in a second admission phase "
        "(default: off; the decision log is keyed by object uid either way)",
    )
    guard.add_argument(
        "--adapters",
        nargs="+",
        type=Path,
        default=[],
        metavar="FILE",
        help="extra kind-adapter files (docs/webhook.md), applied after the built-in ones",
    )
    # The embedded policy service's flags: the same as exportgate-sidecar's. --kubeconfig is the
    # webhook's own (below), used by the service's kube source too.
    add_service_arguments(parser, kubeconfig=False, log_required=False)
    spaces = parser.add_argument_group("namespaces")
    spaces.add_argument(
        "--namespace-tenant",
        action="append",
        default=[],
        metavar="NAMESPACE=TENANT",
        help="bind namespaces statically instead of watching the API server (local runs; "
        "each namespace once, with a tenant; unlisted namespaces are unbound)",
    )
    spaces.add_argument(
        "--kubeconfig",
        type=Path,
        default=None,
        help="kubeconfig for the namespace watch (and the embedded service's --source kube)",
    )
    spaces.add_argument(
        "--namespace-fetch-timeout",
        type=float,
        default=0.5,
        metavar="SECONDS",
        help="longest direct read of a namespace missing from the cache (default %(default)s)",
    )
    parser.add_argument(
        "--log-level",
        default="info",
        choices=LEVELS,
    )
    parser.add_argument(
        "--log-format",
        default="json",
        choices=("json", "console"),
        help="one JSON object per line (for log collectors), or coloured text for a terminal",
    )
    return parser


def service_config(
    parser: argparse.ArgumentParser, args: argparse.Namespace
) -> ServiceConfig | None:
    """The embedded policy service's settings with ``--sidecar embedded``, else None (and then
    none of its flags may be given: the sidecar has its own)."""
    if args.sidecar != EMBEDDED:
        given = given_service_flags(parser, args)
        if given:
            raise UsageError(
                f"{', '.join(given)} configure the embedded policy service; with --sidecar "
                f"{args.sidecar} give them to exportgate-sidecar instead (or use --sidecar "
                f"{EMBEDDED})"
            )
        return None
    if args.decision_log is None:
        raise UsageError(
            f"--sidecar {EMBEDDED} needs --decision-log FILE: every decision is written there "
            "before it is answered"
        )
    try:
        return service_config_from_args(
            args, listen=ServiceListen(unix_socket=None), shutdown_grace=_SERVICE_GRACE_S
        )
    except ConfigError as exc:
        raise UsageError(str(exc)) from None


def _client_auth(ca_file: Path | None, names: Sequence[str]) -> ClientAuthConfig | None:
    """--client-ca and --client-name as settings; a name without a CA would be ignored
    silently (no certificate is asked for), so it is refused instead."""
    if ca_file is None:
        if names:
            raise UsageError(
                "--client-name needs --client-ca: without a client CA no client certificate "
                "is asked for, so there is no name to check"
            )
        return None
    if not ca_file.is_file():
        raise UsageError(f"--client-ca {ca_file}: no such file")
    blank = [name for name in names if not name.strip()]
    if blank:
        raise UsageError("--client-name must not be empty")
    return ClientAuthConfig(ca_file, frozenset(names))


def config_from_args(args: argparse.Namespace) -> WebhookConfig:
    host, port = _host_port(args.listen, "--listen")
    probe_host: str | None = None
    probe_port = DEFAULT_PROBE_PORT
    if args.probe_listen:
        probe_host, probe_port = _host_port(args.probe_listen, "--probe-listen")
    for path in (args.tls_cert, args.tls_key, *args.adapters):
        if not path.is_file():
            raise UsageError(f"{path}: no such file")
    client_auth = _client_auth(args.client_ca, args.client_name)
    if args.budget <= 0:
        raise UsageError("--budget must be positive")
    if args.sidecar_batch < 1:
        raise UsageError("--sidecar-batch must be at least 1")
    static = _static_bindings(args.namespace_tenant)
    groups = DEFAULT_PLATFORM_GROUPS if args.platform_group is None else args.platform_group
    exempt = DEFAULT_EXEMPT_NAMESPACES if args.exempt_namespace is None else args.exempt_namespace
    return WebhookConfig(
        tls=TLSConfig(
            args.tls_cert,
            args.tls_key,
            reload_interval_s=args.tls_reload_interval,
            client_auth=client_auth,
        ),
        listen=ListenConfig(
            host=host,
            port=port,
            max_body_bytes=args.max_body_bytes,
            probe_host=probe_host,
            probe_port=probe_port,
            max_connections=args.max_connections,
            http2=args.http2,
            max_streams=args.max_streams,
            handshake_timeout_s=args.handshake_timeout_s,
            header_timeout_s=args.header_timeout_s,
            idle_timeout_s=args.idle_timeout_s,
        ),
        sidecar=SidecarConfig(
            target=args.sidecar, budget_s=args.budget, batch_max_items=args.sidecar_batch
        ),
        namespaces=NamespaceConfig(
            static_tenants=static,
            kubeconfig=args.kubeconfig,
            fetch_timeout_s=args.namespace_fetch_timeout,
        ),
        guard=GuardConfig(
            platform_users=frozenset(args.platform_user),
            platform_groups=frozenset(groups),
            kyc_users=frozenset(args.kyc_user),
            kyc_groups=frozenset(args.kyc_group),
            exempt_namespaces=frozenset(exempt),
            mutate=args.mutate,
        ),
        adapter_files=tuple(args.adapters),
    )


async def run(config: WebhookConfig, service: ServiceConfig | None = None) -> None:
    heap = HeapSettler()
    server = build_server(config, service=service, heap=heap)
    try:
        await server.start()
    except ShutdownStalled as exc:  # embedded: start failed, and closing the log then hung
        exit_stalled(exc)
    # The adapters, catalogues and TLS state are loaded: keep the collector's full passes off
    # the reviews (exportgate/heap.py). Embedded, the policy service settles again once its
    # first snapshot is in.
    heap.settle()
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)
    reloads: set[asyncio.Task[None]] = set()  # referenced until done
    if isinstance(server.sidecar, LocalPolicyClient):
        # SIGHUP: re-read the files now, as exportgate-sidecar does. Unhandled, it would end
        # the process on the spot, dropping the reviews in flight.
        host = server.sidecar.host
        loop.add_signal_handler(signal.SIGHUP, lambda: _keep(reloads, host.reload()))
    try:
        await stop.wait()
    finally:
        log.info("shutting down")
        try:
            await server.stop()
        except ShutdownStalled as exc:  # embedded: the log's fsync does not return
            exit_stalled(exc)


def _keep(tasks: set[asyncio.Task[None]], work: Coroutine[Any, Any, None]) -> None:
    task = asyncio.get_running_loop().create_task(work)
    tasks.add(task)
    task.add_done_callback(tasks.discard)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    configure_logging(args.log_level, json=args.log_format == "json")
    try:
        config = config_from_args(args)
        eventloop.run(run(config, service_config(parser, args)))
    except UsageError as exc:
        parser.error(str(exc))
    except DecisionLogError as exc:  # the embedded service cannot open its log
        print(f"exportgate-webhook: {exc}", file=sys.stderr)
        return 2
    except InputError as exc:  # a broken --adapters file
        print(f"exportgate-webhook: {exc.describe()}", file=sys.stderr)
        return 2
    except OSError as exc:
        print(f"exportgate-webhook: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
