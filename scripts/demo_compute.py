"""The demo's compute-accounting chapter (issue 14): acme's training run crosses a demo-sized
threshold; `kubectl get computeruns` and `exportgate report compute` show it.

The demo cluster has no scheduler or kubelet, so the demo plays them: it creates acme's GPU
nodes, binds the Job's Pods to them and writes their status as a kubelet would (running for
the last two hours). The operator does the rest on its own checkpoint loop.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
import time
from typing import TYPE_CHECKING, Any

from scripts import demo_objects as objects
from scripts.demo_stack import console_script

if TYPE_CHECKING:
    from scripts.demo_story import Story

NAMESPACE = "acme-ml"
POLICY_FILE = "examples/compute-thresholds-demo.yaml"
REPORT_TIER = "demo-report-1e20"
NODES = {"gpu-h100-1": "NVIDIA-H100-80GB-HBM3", "gpu-h100-2": "NVIDIA-H100-80GB-HBM3"}
WAIT_S = 60.0


def _stamp(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def _pod(name: str, node: str, job: dict[str, Any]) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {
            "name": name,
            "namespace": NAMESPACE,
            "labels": {"job-name": "pretrain"},
            "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job", "name": "pretrain",
                                 "uid": job["metadata"]["uid"], "controller": True}],
        },
        "spec": {
            "nodeName": node,
            "restartPolicy": "Never",
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "containers": [{"name": "train", "image": "registry.example/train:1",
                            "resources": {"limits": {"nvidia.com/gpu": "4"}}}],
        },
    }


def _running(since: dt.datetime) -> dict[str, Any]:
    return {
        "status": {
            "phase": "Running",
            "startTime": _stamp(since),
            "containerStatuses": [{
                "name": "train", "ready": True, "restartCount": 0, "image": "train:1",
                "imageID": "", "state": {"running": {"startedAt": _stamp(since)}},
            }],
        }
    }


def compute_accounting(story: Story) -> None:
    if not story.operator_running:
        return
    story.heading("Compute accounting: acme's training run crosses a (demo-sized) threshold")
    story.console.say(
        "The operator attributes every accelerator Pod's time to its run (the Job) and tenant, "
        "and estimates operations from the catalogue's peak dense figure x time x utilisation "
        "1.0 (an upper bound). The platform team swaps in demo-sized tiers (house policy)."
    )
    story.kubectl("apply", "-f", str(objects.REPO / POLICY_FILE))
    kube = story.kube
    kube.apply([{"apiVersion": "v1", "kind": "Node",
                 "metadata": {"name": n, "labels": {"nvidia.com/gpu.product": p}}}
                for n, p in NODES.items()])
    job = {
        "apiVersion": "batch/v1", "kind": "Job",
        "metadata": {"name": "pretrain", "namespace": NAMESPACE},
        "spec": {"suspend": True, "template": {"spec": {
            "restartPolicy": "Never",
            "nodeSelector": {"nvidia.com/gpu.product": "NVIDIA-H100-80GB-HBM3"},
            "containers": [{"name": "train", "image": "registry.example/train:1",
                            "resources": {"limits": {"nvidia.com/gpu": "4"}}}]}}},
    }
    kube.apply(job)
    job = json.loads(kube.kubectl("get", "job", "pretrain", "-n", NAMESPACE, "-o",
                                  "json").stdout)
    since = dt.datetime.now(dt.UTC) - dt.timedelta(hours=2)
    story.console.step("the demo plays scheduler and kubelet: 2 Pods x 4 H100, running for 2h")
    # Both Pods first, then their status: the operator sees them before their (back-dated)
    # starts are reported, as it would see a kubelet's, and counts those starts in full.
    kube.apply([_pod(f"pretrain-{index}", node, job) for index, node in enumerate(NODES)])
    for index in range(len(NODES)):
        kube.kubectl("patch", "pod", f"pretrain-{index}", "-n", NAMESPACE,
                     "--subresource=status", "--type=merge", "-p", json.dumps(_running(since)))
    run = _wait_for_crossing(story)
    story.score.expect(f"acme's run crossed {REPORT_TIER}", run is not None)
    story.kubectl("get", "computeruns", "-n", NAMESPACE)
    story.kubectl("get", "events", "-n", NAMESPACE, "--field-selector",
                  "involvedObject.name=pretrain,reason=ComputeThreshold")
    story.kubectl("get", "policyreport", "exportgate-compute", "-n", NAMESPACE)
    story.console.say(
        "Usage patterns: 16 accelerator-hours today against no history at all is a jump "
        "beyond acme's trailing baseline (a Warning Event on the Tenant; Tenant Events go to "
        "the default namespace)."
    )
    story.kubectl("get", "events", "-n", "default", "--field-selector",
                  "involvedObject.name=acme,reason=ComputeUsageJump")
    _report(story)


def _wait_for_crossing(story: Story) -> dict[str, Any] | None:
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        proc = story.kube.kubectl("get", "computeruns", "-n", NAMESPACE, "-o", "json",
                                  check=False)
        for run in json.loads(proc.stdout or '{"items": []}')["items"]:
            crossed = {c.get("tier") for c in (run.get("status") or {}).get("crossings") or ()
                       if c.get("notified")}
            if REPORT_TIER in crossed:
                found: dict[str, Any] = run
                return found
        time.sleep(1.0)
    return None


def _report(story: Story) -> None:
    exportgate = console_script("exportgate")
    export = story.stack.workdir / "computeruns-demo.json"
    proc = story.kube.kubectl("get", "computeruns", "-A", "-o", "json")
    export.write_text(proc.stdout)
    story.console.command(["kubectl", "get", "computeruns", "-A", "-o", "json"], "compliance")
    story.console.step(f"saved as {export.name}: this cluster's export for the report")
    if exportgate is None:
        story.score.expect("exportgate report compute", False, "no exportgate CLI")
        return
    argv = [str(exportgate), "report", "compute", "--cluster", f"demo={export.name}"]
    story.console.command(["exportgate", *argv[1:]], "compliance")
    done = subprocess.run(argv, cwd=story.stack.workdir, capture_output=True, text=True,
                          timeout=60, check=False)
    story.console.output(done.stdout + done.stderr)
    story.score.expect("exportgate report compute lists acme's run",
                       done.returncode == 0 and "acme" in done.stdout and REPORT_TIER in
                       done.stdout)
