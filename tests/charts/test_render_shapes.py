"""The two shapes of the webhook pod (policyService.mode), rendered by the real helm.

Embedded (the default): the webhook process hosts the policy service. Sidecar: the service runs
as exportgate-sidecar beside it. The service's flags the chart renders are parsed by the programs'
own argument parsers, so "every setting keeps its meaning in both shapes" is checked against the
code that reads them, not against strings.
"""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

import pytest
import yaml
from exportgate_sidecar.__main__ import build_parser as sidecar_parser
from exportgate_sidecar.__main__ import config_from_args as sidecar_config
from exportgate_webhook.__main__ import build_parser as webhook_parser
from exportgate_webhook.__main__ import service_config as embedded_config

from exportgate.core.types import Action
from exportgate.service.config import ListenConfig, SidecarConfig
from tests.charts.chart import CHART, all_of, container, find, run_helm, template
from tests.charts.chart import write_values as _write

WEBHOOK = "eg-exportgate-webhook"
LOG_DIR = "/var/lib/exportgate/decisions"
LOG_FILE = f"{LOG_DIR}/$(POD_NAME).jsonl"
SIDECAR = {"policyService": {"mode": "sidecar"}}


def _render(tmp_path: Path, values: dict[str, Any], *extra: str) -> list[dict[str, Any]]:
    name = f"values-{len(list(tmp_path.iterdir()))}.yaml"
    return template(_write(tmp_path, values, name), *extra)


def _pod(docs: list[dict[str, Any]]) -> dict[str, Any]:
    spec: dict[str, Any] = find(docs, "Deployment", WEBHOOK)["spec"]["template"]["spec"]
    return spec


def _merge(base: dict[str, Any], extra: dict[str, Any]) -> dict[str, Any]:
    out = dict(base)
    for key, value in extra.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = value
    return out


def _embedded_service(docs: list[dict[str, Any]]) -> SidecarConfig:
    parser = webhook_parser()
    args = parser.parse_args(container(docs, WEBHOOK, "webhook")["args"])
    config = embedded_config(parser, args)
    assert config is not None, "the webhook does not run the policy service"
    return config


def _sidecar_service(docs: list[dict[str, Any]]) -> SidecarConfig:
    return sidecar_config(sidecar_parser().parse_args(container(docs, WEBHOOK, "sidecar")["args"]))


def _service_settings(config: SidecarConfig) -> SidecarConfig:
    """What the service decides and logs with: everything but how it is reached and stopped."""
    return dataclasses.replace(
        config,
        listen=ListenConfig(unix_socket=None),
        metrics_port=None,
        metrics_address="",
        shutdown_grace=0.0,
    )


def test_the_default_shape_is_embedded(tmp_path: Path) -> None:
    assert yaml.safe_load((CHART / "values.yaml").read_text())["policyService"]["mode"] == (
        "embedded"
    )
    docs = template()
    pod = _pod(docs)
    # One process decides and logs: no sidecar, no socket between containers.
    assert [c["name"] for c in pod["containers"]] == ["webhook", "decision-log"]
    assert "socket" not in {v["name"] for v in pod["volumes"]}
    webhook = container(docs, WEBHOOK, "webhook")
    assert "--sidecar=embedded" in webhook["args"]
    assert f"--decision-log={LOG_FILE}" in webhook["args"]
    assert "--source=kube" in webhook["args"]
    # It writes its own chain: the log volume is mounted writable, the chain named after the pod.
    assert {"name": "decisions", "mountPath": LOG_DIR} in webhook["volumeMounts"]
    assert {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}} in (
        webhook["env"]
    )
    assert {p["name"] for p in webhook["ports"]} == {"https", "probes"}
    assert webhook["readinessProbe"]["httpGet"]["path"] == "/readyz"
    # The streamer still reads the same file, read-only.
    streamer = container(docs, WEBHOOK, "decision-log")
    assert streamer["command"][-1] == LOG_FILE
    assert {"name": "decisions", "mountPath": LOG_DIR, "readOnly": True} in (
        streamer["volumeMounts"]
    )


SETTINGS = {
    "defaults": {},
    "cache-packs-action-cluster": {
        "sidecar": {"cacheSize": 123, "cacheTtlSeconds": 7},
        "policy": {
            "enabledPacks": ["kyc-verification", "restricted-parties"],
            "defaultAction": "warn",
        },
        "decisionLog": {"clusterName": "eu-west-gpu", "destination": "pvc"},
    },
    "stamp-no-cache": {
        "webhook": {"mutating": {"enabled": True}},
        "sidecar": {"cacheSize": 0},
        "policy": {"defaultAction": "dryrun"},
    },
}


@pytest.mark.parametrize("case", sorted(SETTINGS))
def test_every_service_setting_means_the_same_in_both_shapes(case: str, tmp_path: Path) -> None:
    values = SETTINGS[case]
    embedded_docs = _render(tmp_path, values)
    sidecar_docs = _render(tmp_path, _merge(values, SIDECAR))
    embedded = _embedded_service(embedded_docs)
    sidecar = _sidecar_service(sidecar_docs)
    assert _service_settings(embedded) == _service_settings(sidecar)
    # ... and each value arrived where it was meant to.
    chart_sidecar = _merge(yaml.safe_load((CHART / "values.yaml").read_text()), values)
    policy, cache = chart_sidecar["policy"], chart_sidecar["sidecar"]
    assert embedded.source.kind == "kube"
    assert str(embedded.decision_log) == LOG_FILE
    assert embedded.cache.max_entries == cache["cacheSize"]
    assert embedded.cache.ttl == cache["cacheTtlSeconds"]
    assert embedded.packs == (tuple(policy["enabledPacks"]) if policy["enabledPacks"] else None)
    action = policy["defaultAction"]
    assert embedded.default_action == (Action(action) if action else None)
    # Without the stamp no call can name an earlier decision, so none is kept for reuse.
    mutating = chart_sidecar["webhook"]["mutating"]["enabled"]
    assert (embedded.reuse_window == 0) is not mutating
    # The log writer's environment (chain name, cluster) moves with the service.
    env = container(embedded_docs, WEBHOOK, "webhook")["env"]
    assert env == container(sidecar_docs, WEBHOOK, "sidecar")["env"]
    cluster = chart_sidecar["decisionLog"]["clusterName"]
    assert ({"name": "EXPORTGATE_CLUSTER_NAME", "value": cluster} in env) is bool(cluster)
    # The same volume holds the log in both shapes (pvc or emptyDir).
    volumes = [{v["name"]: v for v in _pod(d)["volumes"]}["decisions"]
               for d in (embedded_docs, sidecar_docs)]  # fmt: skip
    assert volumes[0] == volumes[1]


def test_service_flags_beyond_the_values_go_in_each_shapes_extra_args(tmp_path: Path) -> None:
    embedded = _embedded_service(
        _render(tmp_path, {"webhook": {"extraArgs": ["--min-time-remaining=5"]}})
    )
    sidecar = _sidecar_service(
        _render(tmp_path, _merge(SIDECAR, {"sidecar": {"extraArgs": ["--min-time-remaining=5"]}}))
    )
    assert embedded.min_time_remaining == sidecar.min_time_remaining == 0.005


def test_sidecar_only_values_do_not_touch_the_embedded_pod(tmp_path: Path) -> None:
    sidecar_only = {
        "sidecar": {
            "metricsPort": 9191,
            "logLevel": "debug",
            "extraArgs": ["--shutdown-grace=9"],
            "resources": {"requests": {"cpu": "1", "memory": "1Gi"}},
        }
    }
    plain, tuned = template(), _render(tmp_path, sidecar_only)
    for kind, name in [
        ("Deployment", WEBHOOK),
        ("Service", f"{WEBHOOK}-metrics"),
        ("NetworkPolicy", WEBHOOK),
    ]:
        assert find(tuned, kind, name)["spec"] == find(plain, kind, name)["spec"], kind


def _metrics_ports(docs: list[dict[str, Any]]) -> tuple[list[str], list[int]]:
    service = find(docs, "Service", f"{WEBHOOK}-metrics")
    policy = find(docs, "NetworkPolicy", WEBHOOK)
    (scrape,) = [r for r in policy["spec"]["ingress"]
                 if {"port": 8443, "protocol": "TCP"} not in r["ports"]]  # fmt: skip
    return [p["name"] for p in service["spec"]["ports"]], [p["port"] for p in scrape["ports"]]


def test_metrics_are_scraped_where_each_shape_serves_them(tmp_path: Path) -> None:
    # Embedded, the service's exportgate_sidecar_* metrics are on the webhook's /metrics.
    assert _metrics_ports(template()) == (["probes"], [8080])
    assert _metrics_ports(_render(tmp_path, SIDECAR)) == (["probes", "sidecar-metrics"],
                                                          [8080, 9090])  # fmt: skip


def test_rbac_is_the_same_in_both_shapes(tmp_path: Path) -> None:
    # The pod's service account reads Tenants and ExportPolicies whichever container watches.
    embedded, sidecar = template(), _render(tmp_path, SIDECAR)
    for kind in ("ClusterRole", "ClusterRoleBinding", "Role", "RoleBinding", "ServiceAccount"):
        assert all_of(embedded, kind) == all_of(sidecar, kind), kind


_UNITS = {"Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "m": 0.001, "": 1}


def _quantity(text: str) -> float:
    unit = next(u for u in sorted(_UNITS, key=len, reverse=True) if text.endswith(u))
    return float(text.removesuffix(unit) if unit else text) * _UNITS[unit]


def test_the_embedded_webhook_has_room_for_the_service(tmp_path: Path) -> None:
    embedded = container(template(), WEBHOOK, "webhook")["resources"]
    sidecar_docs = _render(tmp_path, SIDECAR)
    both = [container(sidecar_docs, WEBHOOK, c)["resources"] for c in ("webhook", "sidecar")]
    for section, key in [("requests", "cpu"), ("requests", "memory"), ("limits", "memory")]:
        total = sum(_quantity(r[section][key]) for r in both)
        assert _quantity(embedded[section][key]) >= total, (section, key)
    # Given explicitly, webhook.resources is used as given in either shape.
    mine = {"requests": {"cpu": "1", "memory": "2Gi"}, "limits": {"memory": "3Gi"}}
    for values in ({"webhook": {"resources": mine}},
                   _merge(SIDECAR, {"webhook": {"resources": mine}})):  # fmt: skip
        assert container(_render(tmp_path, values), WEBHOOK, "webhook")["resources"] == mine


def test_values_from_before_the_choice_keep_the_sidecar_shape() -> None:
    # `helm upgrade --reuse-values` renders with the old chart's defaults: no policyService.
    docs = template(None, "--set", "policyService=null")
    assert [c["name"] for c in _pod(docs)["containers"]] == ["webhook", "sidecar", "decision-log"]
    assert (
        "--sidecar=unix:///run/exportgate/policy.sock"
        in (container(docs, WEBHOOK, "webhook")["args"])
    )


def test_schema_rejects_an_unknown_shape(tmp_path: Path) -> None:
    values = _write(tmp_path, {"policyService": {"mode": "grpc"}})
    proc = run_helm("template", "eg", str(CHART), "--values", str(values))
    assert proc.returncode != 0
    assert "mode" in proc.stderr, proc.stderr


def test_the_sidecar_shape_keeps_its_pod(tmp_path: Path) -> None:
    # The pod the chart rendered before the embedded shape existed, pinned: opting into the
    # sidecar gives exactly that pod (docs/helm.md, "Two shapes of the webhook pod").
    docs = _render(tmp_path, SIDECAR)
    pod = _pod(docs)
    assert [c["name"] for c in pod["containers"]] == ["webhook", "sidecar", "decision-log"]
    assert [v["name"] for v in pod["volumes"]] == ["tls", "socket", "tmp", "decisions"]
    sidecar = container(docs, WEBHOOK, "sidecar")
    assert sidecar["args"] == [
        "--source=kube",
        "--listen=unix:///run/exportgate/policy.sock",
        f"--decision-log={LOG_FILE}",
        "--metrics-port=9090",
        "--cache-size=10000",
        "--cache-ttl=60",
        "--log-level=info",
        "--reuse-window=0",
    ]
    assert sidecar["resources"] == {
        "requests": {"cpu": "100m", "memory": "192Mi"},
        "limits": {"memory": "384Mi"},
    }
    assert sidecar["livenessProbe"] == {
        "tcpSocket": {"port": "sidecar-metrics"}, "periodSeconds": 10, "failureThreshold": 3,
    }  # fmt: skip
    webhook = container(docs, WEBHOOK, "webhook")
    assert "env" not in webhook
    assert webhook["resources"] == {
        "requests": {"cpu": "100m", "memory": "128Mi"},
        "limits": {"memory": "256Mi"},
    }
    assert webhook["volumeMounts"] == [
        {"name": "tls", "mountPath": "/etc/exportgate/tls", "readOnly": True},
        {"name": "socket", "mountPath": "/run/exportgate"},
        {"name": "tmp", "mountPath": "/tmp"},
    ]
