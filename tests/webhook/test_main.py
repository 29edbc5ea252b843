"""The command line: flags become the configuration, and mistakes are reported, not crashed on."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from exportgate_webhook.__main__ import UsageError, build_parser, config_from_args
from exportgate_webhook.config import WebhookConfig

from tests.cluster.certs import ServingCert


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
    assert config.listen.probe_host is None


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
        "--namespace-tenant", "team-a=acme", "--namespace-tenant", "sandbox=",
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
    assert config.namespaces.static_tenants == {"team-a": "acme", "sandbox": ""}
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
        (["--adapters", "/nonexistent/adapters.yaml"], "no such file"),
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
