"""The command line: flags become the configuration, and mistakes are reported, not crashed on."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest
from exportgate_webhook.__main__ import UsageError, build_parser, config_from_args, service_config
from exportgate_webhook.config import WebhookConfig

from exportgate.core.types import Action
from exportgate.service.arguments import SERVICE_FLAGS
from exportgate.service.config import SidecarConfig as ServiceConfig
from tests.cluster.certs import ServingCert
from tests.webhook.conftest import EXAMPLE_TENANTS


def _config(serving_cert: ServingCert, *extra: str) -> WebhookConfig:
    files = ["--tls-cert", str(serving_cert.cert_path), "--tls-key", str(serving_cert.key_path)]
    args = build_parser().parse_args([*files, *extra])
    return config_from_args(args)


def test_defaults(serving_cert: ServingCert) -> None:
    config = _config(serving_cert)
    assert (config.listen.host, config.listen.port) == ("0.0.0.0", 8443)
    assert config.sidecar.target == "unix:///run/exportgate/policy.sock"
    assert config.sidecar.budget_s == 2.0
    assert config.guard.mutate is False  # the stamp is opt-in
    assert config.guard.platform_groups == {"system:masters", "exportgate:platform"}
    assert config.guard.exempt_namespaces == {"kube-system"}
    assert config.namespaces.static_tenants is None
    assert config.guard.kyc_users == config.guard.kyc_groups == frozenset()
    assert config.listen.probe_host is None
    assert config.tls.client_auth is None  # mutual TLS is opt-in


def test_client_auth_flags(serving_cert: ServingCert) -> None:
    config = _config(
        serving_cert,
        "--client-ca", str(serving_cert.ca_path),
        "--client-name", "kube-apiserver", "--client-name", "apiserver.example",
    )  # fmt: skip
    assert config.tls.client_auth is not None
    assert config.tls.client_auth.ca_file == serving_cert.ca_path
    assert config.tls.client_auth.names == {"kube-apiserver", "apiserver.example"}
    only_ca = _config(serving_cert, "--client-ca", str(serving_cert.ca_path))
    assert only_ca.tls.client_auth is not None
    assert only_ca.tls.client_auth.names == frozenset()  # any certificate the CA signed


def test_every_flag(serving_cert: ServingCert, tmp_path: Path) -> None:
    adapters = tmp_path / "extra.yaml"
    adapters.write_text("apiVersion: exportgate.dev/v1alpha1\nkind: AdapterSet\n")
    config = _config(
        serving_cert,
        "--listen", "[::]:9443",
        "--probe-listen", "127.0.0.1:9090",
        "--sidecar", "unix:///tmp/x.sock",
        "--budget", "1.5",
        "--platform-user", "ops", "--platform-user", "operator",
        "--platform-group", "platform",
        "--exempt-namespace", "exportgate-system",
        "--mutate",
        "--namespace-tenant", "team-a=acme", "--namespace-tenant", "sandbox=acme",
        "--kyc-user", "kyc-bot", "--kyc-group", "exportgate:kyc",
        "--adapters", str(adapters),
        "--max-body-bytes", "1024",
        "--tls-reload-interval", "0.5",
    )  # fmt: skip
    assert (config.listen.host, config.listen.port) == ("::", 9443)
    assert (config.listen.probe_host, config.listen.probe_port) == ("127.0.0.1", 9090)
    assert config.sidecar.budget_s == 1.5
    assert config.guard.platform_users == {"ops", "operator"}
    assert config.guard.platform_groups == {"platform"}
    assert config.guard.exempt_namespaces == {"exportgate-system"}
    assert config.guard.mutate is True
    assert config.namespaces.static_tenants == {"team-a": "acme", "sandbox": "acme"}
    assert config.guard.kyc_users == {"kyc-bot"}
    assert config.guard.kyc_groups == {"exportgate:kyc"}
    assert config.adapter_files == (adapters,)
    assert config.listen.max_body_bytes == 1024
    assert config.tls.reload_interval_s == 0.5


@pytest.mark.parametrize(
    ("extra", "complaint"),
    [
        (["--listen", "8443"], "write HOST:PORT"),
        (["--probe-listen", "localhost"], "write HOST:PORT"),
        (["--budget", "0"], "--budget must be positive"),
        (["--namespace-tenant", "team-a"], "write NAMESPACE=TENANT"),
        # Red team 3, F8: no silent last-one-wins, no binding to an empty tenant.
        (
            ["--namespace-tenant", "a=acme", "--namespace-tenant", "a=nimbus"],
            "binds namespace 'a' twice \\('acme' and 'nimbus'\\)",
        ),
        (["--namespace-tenant", "a="], "write NAMESPACE=TENANT"),
        (["--namespace-tenant", "=acme"], "write NAMESPACE=TENANT"),
        (["--adapters", "/nonexistent/adapters.yaml"], "no such file"),
        (["--client-ca", "/nonexistent/ca.crt"], "--client-ca /nonexistent/ca.crt: no such"),
        # A name without a CA would be checked against nothing: refused, not ignored.
        (["--client-name", "kube-apiserver"], "--client-name needs --client-ca"),
    ],
)
def test_usage_errors(serving_cert: ServingCert, extra: list[str], complaint: str) -> None:
    with pytest.raises(UsageError, match=complaint):
        _config(serving_cert, *extra)


# main() configures process-wide logging, so the program itself runs in a subprocess here.
PROGRAM = str(Path(sys.executable).with_name("exportgate-webhook"))


def test_missing_certificate_exits_with_usage() -> None:
    proc = subprocess.run(
        [PROGRAM, "--tls-cert", "/nonexistent.crt", "--tls-key", "/nonexistent.key"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2
    assert "/nonexistent.crt: no such file" in proc.stderr


def test_broken_adapter_file_exits_2(serving_cert: ServingCert, tmp_path: Path) -> None:
    broken = tmp_path / "broken.yaml"
    broken.write_text("apiVersion: exportgate.dev/v1alpha1\nkind: AdapterSet\nadapters: 7\n")
    proc = subprocess.run(
        [PROGRAM, "--tls-cert", str(serving_cert.cert_path), "--tls-key",
         str(serving_cert.key_path), "--adapters", str(broken), "--listen", "127.0.0.1:0",
         "--namespace-tenant", "a=b"],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert "broken.yaml" in proc.stderr


# -- the embedded policy service (--sidecar embedded) ----------------------------------------


def _service(serving_cert: ServingCert, *extra: str) -> ServiceConfig | None:
    files = ["--tls-cert", str(serving_cert.cert_path), "--tls-key", str(serving_cert.key_path)]
    parser = build_parser()
    return service_config(parser, parser.parse_args([*files, *extra]))


def test_embedded_needs_a_decision_log(serving_cert: ServingCert) -> None:
    with pytest.raises(UsageError, match="--sidecar embedded needs --decision-log FILE"):
        _service(serving_cert, "--sidecar", "embedded", "--tenants", str(EXAMPLE_TENANTS))


def test_no_service_without_embedded(serving_cert: ServingCert) -> None:
    assert _service(serving_cert) is None
    assert _service(serving_cert, "--sidecar", "unix:///tmp/x.sock") is None


@pytest.mark.parametrize(
    "flags",
    [
        ["--decision-log", "/var/log/exportgate/decisions.log"],
        ["--tenants", "tenants.yaml", "--cache-size", "5"],
        ["--source", "kube", "--reuse-window", "0"],
    ],
)
def test_service_flags_with_a_sidecar_are_a_usage_error(
    serving_cert: ServingCert, flags: list[str]
) -> None:
    """They would be silently ignored (the sidecar has its own): refused, each named."""
    with pytest.raises(UsageError) as raised:
        _service(serving_cert, "--sidecar", "unix:///tmp/x.sock", *flags)
    message = str(raised.value)
    for flag in flags[::2]:
        assert flag in message, message
    assert "exportgate-sidecar" in message and "--sidecar embedded" in message, message


def test_the_embedded_config_carries_every_service_flag(
    serving_cert: ServingCert, tmp_path: Path
) -> None:
    policies = tmp_path / "policies"
    policies.mkdir()
    values = {
        "--tenants": [str(EXAMPLE_TENANTS)],
        "--policies": [str(policies)],
        "--poll-interval": ["0.5"],
        "--packs": [],
        "--default-action": ["dryrun"],
        "--decision-log": [str(tmp_path / "decisions.log")],
        "--cache-size": ["7"],
        "--cache-ttl": ["3"],
        "--reuse-window": ["0"],
        "--min-time-remaining": ["5"],
        "--max-batch-items": ["9"],
        "--log-close-timeout": ["3"],
    }
    # --source is given below; every other service flag must be in this test.
    assert set(values) | {"--source"} == set(SERVICE_FLAGS.values())
    argv = [part for flag, args in values.items() for part in (flag, *args)]
    config = _service(serving_cert, "--sidecar", "embedded", "--source", "files", *argv)
    assert config is not None
    assert config.source.kind == "files"
    assert config.source.tenant_paths == (EXAMPLE_TENANTS,)
    assert config.source.policy_paths == (policies,)
    assert config.source.poll_interval == 0.5
    assert config.packs == ()  # given without names: every built-in pack off
    assert config.default_action is Action.DRYRUN
    assert config.decision_log == tmp_path / "decisions.log"
    assert (config.cache.max_entries, config.cache.ttl) == (7, 3.0)
    assert config.reuse_window == 0
    assert config.min_time_remaining == 0.005  # given in milliseconds
    assert config.max_batch_items == 9
    assert config.log_close_timeout == 3
    # The webhook serves the only ports: the service opens no socket of its own.
    assert config.listen.unix_socket is None and config.metrics_port is None


def test_the_embedded_kube_source_uses_the_webhooks_kubeconfig(
    serving_cert: ServingCert, tmp_path: Path
) -> None:
    kubeconfig = tmp_path / "kubeconfig"
    config = _service(
        serving_cert,
        "--sidecar", "embedded", "--source", "kube", "--kubeconfig", str(kubeconfig),
        "--decision-log", str(tmp_path / "decisions.log"),
    )  # fmt: skip
    assert config is not None
    assert config.source.kind == "kube" and config.source.kubeconfig == kubeconfig


@pytest.mark.parametrize(
    ("flags", "complaint"),
    [
        ([], "the files source needs --tenants and/or --policies"),
        (["--tenants", "/nonexistent/tenants.yaml"], "/nonexistent/tenants.yaml: no such file"),
        (["--source", "kube", "--tenants", "t.yaml"], "--tenants/--policies are for --source"),
        (["--tenants", str(EXAMPLE_TENANTS), "--max-batch-items", "0"], "at least 1"),
    ],
)
def test_embedded_setting_errors(
    serving_cert: ServingCert, tmp_path: Path, flags: list[str], complaint: str
) -> None:
    log = ["--decision-log", str(tmp_path / "decisions.log")]
    with pytest.raises(UsageError, match=complaint):
        _service(serving_cert, "--sidecar", "embedded", *log, *flags)


def test_embedded_with_a_broken_policy_file_is_a_usage_error(
    serving_cert: ServingCert, tmp_path: Path
) -> None:
    """Refused before anything starts, naming the file, rather than served without it."""
    broken = tmp_path / "policy.yaml"
    broken.write_text("apiVersion: exportgate.dev/v1alpha1\nkind: ExportPolicy\nspec: 7\n")
    with pytest.raises(UsageError) as raised:
        _service(
            serving_cert,
            "--sidecar", "embedded", "--tenants", str(EXAMPLE_TENANTS),
            "--policies", str(broken), "--decision-log", str(tmp_path / "d.log"),
        )  # fmt: skip
    assert str(broken) in str(raised.value), raised.value
    assert "not a valid ExportPolicy file" in str(raised.value), raised.value


def _run_embedded(serving_cert: ServingCert, *extra: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [PROGRAM, "--tls-cert", str(serving_cert.cert_path), "--tls-key",
         str(serving_cert.key_path), "--listen", "127.0.0.1:0", "--namespace-tenant", "a=b",
         "--sidecar", "embedded", *extra],
        capture_output=True,
        text=True,
        timeout=60,
    )  # fmt: skip


def test_embedded_with_a_missing_tenants_file_is_refused_at_startup(
    serving_cert: ServingCert, tmp_path: Path
) -> None:
    missing = tmp_path / "missing" / "tenants.yaml"
    proc = _run_embedded(
        serving_cert, "--tenants", str(missing), "--decision-log", str(tmp_path / "d.log")
    )
    assert proc.returncode == 2, proc.stderr
    assert f"{missing}: no such file or directory; fix the path" in proc.stderr, proc.stderr
    assert not (tmp_path / "d.log").exists(), "nothing is opened before the flags are checked"


def test_embedded_with_an_unopenable_log_exits_2_with_the_reason(
    serving_cert: ServingCert, tmp_path: Path
) -> None:
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    proc = _run_embedded(
        serving_cert,
        "--tenants", str(EXAMPLE_TENANTS), "--decision-log", str(blocker / "decisions.log"),
    )  # fmt: skip
    assert proc.returncode == 2, proc.stderr
    assert str(blocker) in proc.stderr and "--decision-log" in proc.stderr, proc.stderr


def test_help_documents_the_embedded_mode() -> None:
    text = " ".join(build_parser().format_help().split())
    assert "'embedded' to run the policy service in this process" in text
    assert "--decision-log required" in text
    assert "with --sidecar embedded, SIGHUP re-reads the tenant and policy files" in text
    # The service's own flags, under the sidecar's group names.
    for group in ("tenants and policies:", "decisions:"):
        assert group in text
    for flag in SERVICE_FLAGS.values():
        assert flag in text, flag


def test_the_running_webhook_settles_its_heap_at_startup(
    serving_cert: ServingCert, tmp_path: Path
) -> None:
    """Once when it listens, once more when the embedded service has its first snapshot
    (exportgate/heap.py); the log says how much was frozen and how long the pass took."""
    proc = subprocess.Popen(
        [PROGRAM, "--tls-cert", str(serving_cert.cert_path), "--tls-key",
         str(serving_cert.key_path), "--listen", "127.0.0.1:0", "--namespace-tenant", "a=b",
         "--sidecar", "embedded", "--tenants", str(EXAMPLE_TENANTS),
         "--decision-log", str(tmp_path / "d.log"), "--log-level", "info"],
        stderr=subprocess.STDOUT,
        stdout=subprocess.PIPE,
        text=True,
    )  # fmt: skip
    settled: list[dict[str, object]] = []
    try:
        assert proc.stdout is not None
        deadline = time.monotonic() + 60
        while len(settled) < 2 and time.monotonic() < deadline:
            line = proc.stdout.readline()
            if not line:
                break
            if "heap settled" in line:
                settled.append(json.loads(line))
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    assert len(settled) == 2, settled
    assert all(int(str(e["frozen"])) > 0 and "seconds" in e for e in settled), settled


def test_the_webhook_loads_no_web_framework() -> None:
    """Both ports are served by the webhook's own listener and sessions (docs/webhook.md):
    aiohttp's web stack would add about 11 MiB to every replica for the probe port alone."""
    code = (
        "import sys, exportgate_webhook.__main__, exportgate_webhook.assemble;"
        "print(sorted(m for m in sys.modules if m.split('.')[0] == 'aiohttp'))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "[]"
