"""The chart's opt-in mutual TLS (`webhook.clientAuth`): off by default, and when on, the CA
bundle is mounted whole (so its rotation reaches the webhook) and wired to --client-ca and
--client-name, while the probes stay on the plain port kubelet reaches without a certificate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.charts.chart import CHART, container, find, run_helm, template, write_values

WEBHOOK = "eg-exportgate-webhook"


def _pod_spec(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = find(docs, "Deployment", WEBHOOK)["spec"]["template"]["spec"]
    return spec


def test_off_by_default(tmp_path: Path) -> None:
    docs = template(write_values(tmp_path, {}))
    args = container(docs, WEBHOOK, "webhook")["args"]
    assert not [a for a in args if a.startswith(("--client-ca", "--client-name"))]
    assert "client-ca" not in {v["name"] for v in _pod_spec(docs)["volumes"]}


@pytest.mark.parametrize(
    ("source", "volume"),
    [
        ({"caConfigMap": "apiserver-client-ca"}, {"configMap": {"name": "apiserver-client-ca"}}),
        ({"caSecret": "apiserver-client-ca"}, {"secret": {"secretName": "apiserver-client-ca"}}),
    ],
)
def test_enabled_wires_the_ca_and_names(
    tmp_path: Path, source: dict[str, str], volume: dict[str, Any]
) -> None:
    values = {
        "webhook": {
            "clientAuth": {
                "enabled": True,
                "caKey": "bundle.pem",
                "allowedNames": ["kube-apiserver", "apiserver.example"],
                **source,
            }
        }
    }
    assert (
        run_helm("lint", str(CHART), "--values", str(write_values(tmp_path, values))).returncode
        == 0
    )
    docs = template(write_values(tmp_path, values))
    webhook = container(docs, WEBHOOK, "webhook")
    args = webhook["args"]
    assert "--client-ca=/etc/exportgate/client-ca/bundle.pem" in args
    assert "--client-name=kube-apiserver" in args
    assert "--client-name=apiserver.example" in args
    mount = next(m for m in webhook["volumeMounts"] if m["name"] == "client-ca")
    assert mount == {
        "name": "client-ca",
        "mountPath": "/etc/exportgate/client-ca",
        "readOnly": True,
    }
    assert "subPath" not in mount  # a subPath mount would never see a rotated bundle
    declared = next(v for v in _pod_spec(docs)["volumes"] if v["name"] == "client-ca")
    kind = next(iter(volume))
    for key, value in volume[kind].items():
        assert declared[kind][key] == value
    assert declared[kind]["items"] == [{"key": "bundle.pem", "path": "bundle.pem"}]
    # kubelet's probes carry no client certificate: they stay on the plain probes port.
    for probe in ("readinessProbe", "livenessProbe", "startupProbe"):
        assert webhook[probe]["httpGet"]["port"] == "probes"
    assert "--probe-listen=0.0.0.0:8080" in args


@pytest.mark.parametrize(
    "source",
    [{}, {"caSecret": "a", "caConfigMap": "b"}],
    ids=["no-ca", "two-cas"],
)
def test_enabled_needs_exactly_one_ca_source(tmp_path: Path, source: dict[str, str]) -> None:
    values = {"webhook": {"clientAuth": {"enabled": True, **source}}}
    proc = run_helm("template", "eg", str(CHART), "--values", str(write_values(tmp_path, values)))
    assert proc.returncode != 0
    assert "needs exactly one of webhook.clientAuth.caSecret" in proc.stderr
