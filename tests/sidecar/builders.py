"""Builders for sidecar tests: tenant and policy files, request items, certificates.

Tenants are the Tenant custom-resource shape (`tests.core.builders.tenant_doc`), written as YAML
files the sidecar's file source reads exactly as it would in a demo. The test policy is a small
custom ExportPolicy so that a test can change its version and see decisions follow.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from exportgate_sidecar import CacheConfig, ListenConfig, SidecarConfig, SourceConfig

from exportgate.v1 import policy_pb2 as pb
from exportgate.wire.client import PolicyClient
from tests.core.builders import NOW, export_policy, tenant_doc

__all__ = ["NOW", "SidecarFiles", "gpu_item", "policy_doc", "tenant_doc", "write_sidecar_files"]

H100_LABEL = "NVIDIA-H100-80GB-HBM3"
GFD = "nvidia.com/gpu.product"


def policy_doc(
    version: str = "1.0.0", *, action: str = "warn", name: str = "test-policy"
) -> dict[str, Any]:
    """A custom pack: warns (by default) whenever a tenant headquartered in DE gets an H100."""
    rule = {
        "id": "test-de-h100",
        "citation": "test citation 1.2.3",
        "effective": "2020-01-01",
        "match": {"accelerators": {"products": ["nvidia-h100-sxm"]}},
        "jurisdictions": {"anyIn": ["DE"]},
        "message": "{subject} for tenant {tenant} is watched (test policy)",
    }
    return export_policy(name, rule, version=version, enforcementAction=action)


def write_yaml(path: Path, docs: Iterable[Mapping[str, Any]]) -> Path:
    """Write atomically (rename), the way editors and ConfigMap updates replace files."""
    tmp = path.with_name(f".{path.name}.tmp")
    tmp.write_text(yaml.safe_dump_all(list(docs), sort_keys=False))
    tmp.replace(path)
    return path


@dataclass
class SidecarFiles:
    tenants: Path
    policies: Path
    decision_log: Path
    socket: Path

    def config(self, **overrides: Any) -> SidecarConfig:
        base = SidecarConfig(
            decision_log=self.decision_log,
            source=SourceConfig(
                kind="files",
                tenant_paths=(self.tenants,),
                policy_paths=(self.policies,),
                poll_interval=0.05,
            ),
            listen=ListenConfig(unix_socket=self.socket),
            cache=CacheConfig(max_entries=1000, ttl=60),
            shutdown_grace=5.0,
        )
        return dataclasses.replace(base, **overrides)

    def write_tenants(self, *docs: Mapping[str, Any]) -> None:
        write_yaml(self.tenants / "tenants.yaml", docs)

    def write_policies(self, *docs: Mapping[str, Any]) -> None:
        write_yaml(self.policies / "policies.yaml", docs)

    def log_records(self) -> list[dict[str, Any]]:
        return [json.loads(line) for line in self.decision_log.read_text().splitlines() if line]

    def decision_records(self) -> list[dict[str, Any]]:
        return [r for r in self.log_records() if r.get("type") == "decision"]


def default_tenants() -> list[dict[str, Any]]:
    return [
        tenant_doc("acme", incorporation="SG"),
        tenant_doc("berlin", incorporation="DE"),
        tenant_doc("pending", incorporation="SG", state="Pending"),
    ]


def write_sidecar_files(root: Path, *, socket: Path) -> SidecarFiles:
    files = SidecarFiles(
        tenants=root / "tenants",
        policies=root / "policies",
        decision_log=root / "log" / "decisions.jsonl",
        socket=socket,
    )
    files.tenants.mkdir()
    files.policies.mkdir()
    files.write_tenants(*default_tenants())
    files.write_policies(policy_doc())
    return files


def gpu_item(
    tenant: str,
    *,
    label: str = H100_LABEL,
    name: str = "trainer",
    namespace: str = "team",
    request_uid: str = "",
    kind: str = "Pod",
) -> pb.EvaluateItem:
    """A Pod pinned to one GPU product with a GPU Feature Discovery node selector."""
    return pb.EvaluateItem(
        tenant=tenant,
        object=pb.ObjectRef(api_version="v1", kind=kind, namespace=namespace, name=name),
        user=pb.UserInfo(username="alice", groups=["team"]),
        operation=pb.OPERATION_CREATE,
        accelerators=[
            pb.AcceleratorRequest(
                resource="nvidia.com/gpu",
                count=1,
                hints=[pb.ProductHint(key=GFD, operator="In", values=[label])],
                source="spec.containers[0]",
            )
        ],
        request_uid=request_uid,
    )


def plain_item(tenant: str, *, name: str = "web") -> pb.EvaluateItem:
    """An object that asks for no accelerator and no model."""
    return pb.EvaluateItem(
        tenant=tenant,
        object=pb.ObjectRef(api_version="v1", kind="Pod", namespace="team", name=name),
        operation=pb.OPERATION_CREATE,
    )


def model_item(tenant: str, reference: str, *, name: str = "serve") -> pb.EvaluateItem:
    return pb.EvaluateItem(
        tenant=tenant,
        object=pb.ObjectRef(api_version="v1", kind="Pod", namespace="team", name=name),
        operation=pb.OPERATION_CREATE,
        models=[pb.ModelRequest(reference=reference, source="spec.containers[0].args")],
    )


def actions(decisions: Sequence[pb.Decision]) -> list[str]:
    return [pb.Action.Name(d.action) for d in decisions]


async def ask_one(
    client: PolicyClient, item: pb.EvaluateItem, *, at: Any = None, timeout: float | None = None
) -> pb.Decision:
    """The sidecar's wire answer to one item, as sent: these tests check the contract itself."""
    response = await client.evaluate_wire([item], at=at, timeout=timeout)
    decision: pb.Decision = response.decisions[0]
    return decision
