"""Decision logs for the audit report, made by the real sidecar: `python -m scripts.audit_demo`.

`make demo` runs the whole stack on a real API server; this is the quicker path to a set of
logs an auditor would receive: two sidecar replicas in two clusters (each a real gRPC server on
a Unix socket, reading tenants and policies from files, writing its own hash-chained log with
policy snapshots), deciding the example manifests (examples/workloads.yaml, extracted with the
real adapters) for the example tenants (examples/tenants.yaml) round after round, while the
provider's own policy changes from warn to deny half way. Then it writes the report, replays
every decision from its snapshot, and explains one decision taken under the old policy.

    python -m scripts.audit_demo [--workdir DIR] [--rounds N] [--screenshot PNG]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from exportgate_sidecar import serve_in_background

from exportgate.audit.replay import replay, snapshot_directories
from exportgate.cli.main import main as exportgate
from exportgate.core import extract
from exportgate.core.documents import flatten_lists, read_documents
from exportgate.decisionlog.query import iter_records
from exportgate.decisionlog.segments import rotated_segments
from exportgate.service.config import ListenConfig, SidecarConfig, SourceConfig
from exportgate.wire import PolicyClient, workload_to_item

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
USERS = {"acme": "ana@acme", "nimbus": "li@nimbus", "orbit": "oskar@orbit"}


def house_policy(version: str, action: str) -> dict[str, Any]:
    """The provider's own rule: T4s for tenants owned from CN, first watched, then refused."""
    return {
        "apiVersion": "exportgate.dev/v1alpha1",
        "kind": "ExportPolicy",
        "metadata": {"name": "provider-house-rules"},
        "spec": {
            "version": version,
            "enforcementAction": action,
            "rules": [
                {
                    "id": "house-t4-cn-owned",
                    "citation": "Provider acceptable-use policy s. 4.2",
                    "effective": "2024-01-01",
                    "match": {"accelerators": {"products": ["nvidia-t4"]}},
                    "jurisdictions": {"anyIn": ["CN"]},
                    "message": "{subject} for tenant {tenant} is restricted by the provider's "
                    "house rules",
                }
            ],
        },
    }


def items() -> list[Any]:
    registry = extract.AdapterRegistry.builtin()
    found = []
    for _document, obj, _base in flatten_lists(read_documents(EXAMPLES / "workloads.yaml")):
        workload = registry.extract(obj)
        if not workload.guarded:
            continue
        namespace = workload.ref.namespace
        tenant = namespace.removesuffix("-ml") if namespace else workload.tenant_label
        found.append((workload, tenant))
    return found


async def run_replica(
    work: Path, name: str, cluster: str, rounds: int, change_at: int | None
) -> Path:
    log = work / "logs" / name / "decisions.jsonl"
    socket = Path(tempfile.mkdtemp(prefix="egad-", dir="/tmp")) / "policy.sock"
    before = os.environ.get("EXPORTGATE_CLUSTER_NAME")
    os.environ["EXPORTGATE_CLUSTER_NAME"] = cluster  # what the chart sets from clusterName
    config = SidecarConfig(
        decision_log=log,
        source=SourceConfig(
            kind="files",
            tenant_paths=(work / "tenants",),
            policy_paths=(work / "policies",),
            poll_interval=0.05,
        ),
        listen=ListenConfig(unix_socket=socket),
    )
    found = items()
    async with (
        serve_in_background(config, ready_timeout=30) as server,
        PolicyClient(server.unix_target, timeout=5.0) as client,
    ):
        for round_no in range(rounds):
            if change_at is not None and round_no == change_at:
                write_policy(work, house_policy("2.0.0", "deny"))
                await asyncio.sleep(0.5)  # the file source picks it up
            batch = [
                workload_to_item(
                    workload,
                    tenant=tenant,
                    operation="CREATE",
                    username=USERS.get(tenant or "", "system:serviceaccount:ci:deployer"),
                    groups=[f"tenant:{tenant}"],
                    request_uid=f"{name}-{round_no}-{i}",
                )
                for i, (workload, tenant) in enumerate(found)
            ]
            await client.evaluate(batch)
            await asyncio.sleep(0.02)
    shutil.rmtree(socket.parent, ignore_errors=True)
    if before is None:
        del os.environ["EXPORTGATE_CLUSTER_NAME"]
    else:
        os.environ["EXPORTGATE_CLUSTER_NAME"] = before
    return log


def write_policy(work: Path, policy: dict[str, Any]) -> None:
    target = work / "policies" / "house.yaml"
    temporary = target.with_suffix(".tmp")
    temporary.write_text(yaml.safe_dump(policy, sort_keys=False))
    temporary.replace(target)


async def make_logs(work: Path, rounds: int) -> list[Path]:
    (work / "tenants").mkdir(parents=True, exist_ok=True)
    (work / "policies").mkdir(parents=True, exist_ok=True)
    shutil.copy(EXAMPLES / "tenants.yaml", work / "tenants" / "tenants.yaml")
    write_policy(work, house_policy("1.0.0", "warn"))
    logs = [await run_replica(work, "eu-west-1-a", "eu-west-1", rounds, change_at=rounds // 2)]
    logs.append(await run_replica(work, "us-east-1-a", "us-east-1", rounds, change_at=None))
    return [segment for log in logs for segment in (*rotated_segments(log), log)]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workdir", type=Path, default=Path("audit-demo-out"))
    parser.add_argument("--rounds", type=int, default=40)
    parser.add_argument("--screenshot", type=Path, help="save a PNG of the report (Chromium)")
    args = parser.parse_args()
    work: Path = args.workdir
    if work.exists():
        shutil.rmtree(work)
    logs = asyncio.run(make_logs(work, args.rounds))
    paths = [str(p) for p in logs]
    html = work / "report.html"
    code = exportgate(
        ["audit", "report", "--title", "exportgate audit: demo logs (two clusters)",
         "--html", str(html), "--csv", str(work / "report.csv"), *paths]
    )  # fmt: skip
    directories = snapshot_directories(paths)
    decisions = [s.record for s in iter_records(paths) if s.record.get("type") == "decision"]
    same = sum(replay(record, directories).same for record in decisions)
    print(f"replayed {len(decisions)} decisions from their snapshots: {same} identical")
    old = next(
        r for r in decisions if r.get("rule") == "house-t4-cn-owned" and r["action"] == "warn"
    )
    print(f"\n$ exportgate audit explain --policy house.yaml {old['id']} LOGS...")
    today = str(work / "policies" / "house.yaml")  # the house rules as they are now
    explained = exportgate(["audit", "explain", "--policy", today, old["id"], *paths])
    if args.screenshot:
        from tests.audit.browser import screenshot

        screenshot(html, args.screenshot)
        print(f"screenshot: {args.screenshot}")
    ok = code == 0 and same == len(decisions) and explained == 0
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
