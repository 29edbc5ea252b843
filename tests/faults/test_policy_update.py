"""Policy and tenant files updated under load: no decision mixes old and new policy versions.

A custom ExportPolicy flips between two versions: 1.0.0 denies controlled accelerators to
tenants in SG, 2.0.0 only warns. The tenants file is rewritten at the same moments (an extra
tenant comes and goes), so tenant reloads race with the policy reloads. Under load, every
response must be explained by exactly one version:

* the policy version in the response names one snapshot, and that snapshot always carries the
  same per-policy versions in the log (no snapshot was built from a mix of files);
* the answer agrees with that version (denied under 1.0.0, allowed with a warning under 2.0.0);
* the log record of the decision id carries the same policy version as the response.
"""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable
from pathlib import Path

import yaml

from bench.harness import EXAMPLE_TENANTS, SidecarOptions, Stack
from tests.faults.conftest import Record, decision_records, env_int, guarded_load

POLICY = "fault-flip"
POLL_S = 0.1


def _policy(version: str, action: str) -> str:
    return yaml.safe_dump(
        {
            "apiVersion": "exportgate.dev/v1alpha1",
            "kind": "ExportPolicy",
            "metadata": {"name": POLICY},
            "spec": {
                "version": version,
                "title": "Fault test: controlled accelerators in SG",
                "description": "Flipped between deny and warn by the policy-update fault test.",
                "enforcementAction": action,
                "rules": [
                    {
                        "id": "fault-flip-sg",
                        "title": "Controlled accelerator for a tenant in SG",
                        "citation": "test fixture, not a regulation",
                        "effective": "2024-01-01",
                        "match": {"accelerators": {"classifications": ["3A090.a", "3A090.b"]}},
                        "jurisdictions": {"anyIn": ["SG"]},
                        "message": "{subject} ({classification}) is flipped for tenant {tenant}.",
                    }
                ],
            },
        }
    )


def _tenants(with_extra: bool) -> str:
    text = EXAMPLE_TENANTS.read_text()
    if with_extra:
        text += yaml.safe_dump(
            {
                "apiVersion": "exportgate.dev/v1alpha1",
                "kind": "Tenant",
                "metadata": {"name": "flipper"},
                "spec": {
                    "legalName": "Flipper Ltd.",
                    "incorporation": "FR",
                    "headquarters": "FR",
                    "verification": {
                        "state": "Verified",
                        "verifiedAt": "2026-01-01T00:00:00Z",
                        "expiresAt": "2027-01-01T00:00:00Z",
                        "evidenceRef": "k-1",
                    },
                },
            },
            explicit_start=True,
        )
    return text


def _write_atomically(path: Path, text: str) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def test_policy_and_tenant_updates_under_load(
    make_stack: Callable[..., Stack], tmp_path: Path, fault_summary: Record
) -> None:
    flips = env_int("EXPORTGATE_POLICY_FLIPS", 10)
    policy_file, tenant_file = tmp_path / "policy.yaml", tmp_path / "tenants.yaml"
    policy_file.write_text(_policy("1.0.0", "deny"))
    tenant_file.write_text(_tenants(False))
    stack = make_stack(
        sidecar=SidecarOptions(
            tenants=(tenant_file,), policies=(policy_file,), poll_interval=POLL_S
        )
    )

    out = stack.workdir / "responses.jsonl"
    load_s = flips * 0.5 + 1.0
    done = guarded_load(stack, load_s, out, concurrency=8)
    for i in range(flips):
        time.sleep(0.5)
        new_version, action = ("2.0.0", "warn") if i % 2 == 0 else ("1.0.0", "deny")
        _write_atomically(policy_file, _policy(new_version, action))
        _write_atomically(tenant_file, _tenants(i % 2 == 0))
    done.join(load_s + 120)
    stack.stop()

    records = decision_records(stack.decision_log)
    # engine version -> the per-policy versions every record made with it carries
    snapshots: dict[str, set[str]] = {}
    for made in records.values():
        snapshots.setdefault(made["policyVersion"], set()).add(
            json.dumps(made["policyVersions"], sort_keys=True)
        )
    mixed = {v: s for v, s in snapshots.items() if len(s) != 1}
    flip_version = {
        v: json.loads(next(iter(s)))[POLICY] for v, s in snapshots.items() if len(s) == 1
    }

    responses = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
    # Only the acme Pods/Deployments/InferenceServices in SG are decided by the flipped rule.
    checked = 0
    problems: list[str] = []
    for r in responses:
        record = records.get(r["decision_id"] or "")
        if record is None:
            if r["allowed"]:
                problems.append(f"allow without a logged decision: {r}")
            continue
        if record["requestUid"] != r["uid"]:
            problems.append(f"decision {r['decision_id']} belongs to another request")
        if record["tenant"] != "acme" or not any(
            a.get("classifications") and a["classifications"][0].startswith("3A090")
            for a in record["accelerators"]
        ):
            continue
        checked += 1
        version = flip_version.get(record["policyVersion"])
        expect_allowed = version == "2.0.0"
        if version is None or bool(r["allowed"]) != expect_allowed:
            problems.append(f"response {r} does not match policy {POLICY} {version}")
    fault_summary(
        outcome="passed" if not problems and not mixed else "failed",
        cases=flips,
        requests=len(responses),
        failures=len(problems) + len(mixed),
        detail=f"{flips} policy+tenant file rewrites; {len(snapshots)} snapshots seen; "
        f"{checked} decisions checked against their version",
    )
    assert not mixed, f"snapshots built from mixed policy versions: {mixed}"
    assert not problems, problems[:5]
    assert checked > 0
    assert len(snapshots) >= 2, "the policy never changed under load: the test proves nothing"
