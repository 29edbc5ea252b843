"""B3: one uncached decision through the sidecar's gRPC hop, the same decision asked of the
embedded service, and the core's in-process speed.

The gRPC part calls the real sidecar (started with --cache-size 0) over its Unix socket, one
call at a time with distinct objects, as the webhook asks for a review that arrives alone: the
latency includes protobuf encoding, the hop, evaluation, the fsynced decision-log write and
decoding. The embedded part asks the same questions of the same service hosted in this process
(`LocalPolicyClient`, what `exportgate-webhook --sidecar embedded` does): evaluation and the
fsynced write, no hop; its CPU per decision is this process's (all threads). The in-process part
times `PolicyEngine.evaluate` alone over the same workloads, and extraction
(`AdapterRegistry.extract`) separately.
"""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import grpc

from bench.harness import EXAMPLE_TENANTS, SidecarOptions, Stack
from bench.reviews import MIX
from bench.stats import summary
from bench.workloads import example_tenants, extracted, objects
from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import AdapterRegistry
from exportgate.service.config import CacheConfig, ListenConfig, SidecarConfig, SourceConfig
from exportgate.service.host import PolicyHost
from exportgate.service.local import LocalPolicyClient
from exportgate.v1 import policy_pb2, policy_pb2_grpc
from exportgate.wire.convert import workload_to_item
from exportgate.wire.question import Question, on_the_wire


async def _grpc_latencies(socket_path: Path, count: int) -> tuple[list[float], list[float], int]:
    """Evaluate latencies, and Status latencies interleaved with them: Status does no work in
    the sidecar, so it is the gRPC hop alone through the same server, channel and moment."""
    items = [
        workload_to_item(w, tenant=t, operation="CREATE", username="bench", request_uid=str(i))
        for i, (w, t) in enumerate(extracted(count + 200))
    ]
    latencies: list[float] = []
    hop: list[float] = []
    failures = 0
    async with grpc.aio.insecure_channel(f"unix://{socket_path}") as channel:
        stub = policy_pb2_grpc.PolicyServiceStub(channel)
        for i, item in enumerate(items):
            began = time.perf_counter()
            try:
                await stub.Evaluate(policy_pb2.EvaluateRequest(items=[item]), timeout=2.0)
            except grpc.aio.AioRpcError:
                failures += 1
                continue
            if i >= 200:  # the first calls warm the channel and the interpreter
                latencies.append((time.perf_counter() - began) * 1000)
            began = time.perf_counter()
            await stub.Status(policy_pb2.StatusRequest(), timeout=2.0)
            if i >= 200:
                hop.append((time.perf_counter() - began) * 1000)
    return latencies, hop, failures


async def _embedded_latencies(directory: Path, count: int) -> tuple[list[float], float]:
    """Latencies of the same uncached questions asked of the embedded service one at a time,
    and the CPU ms per decision of this process meanwhile (the log's thread included)."""
    config = SidecarConfig(
        decision_log=directory / "decisions.log",
        source=SourceConfig(tenant_paths=(EXAMPLE_TENANTS,)),
        listen=ListenConfig(unix_socket=None),
        cache=CacheConfig(max_entries=0),
        reuse_window=0,
    )
    client = LocalPolicyClient(PolicyHost(config))
    await client.start()
    try:
        await client.host.wait_ready(30)
        questions = [
            Question(
                tenant=t,
                workload=on_the_wire(w),
                operation="CREATE",
                username="bench",
                request_uid=str(i),
            )
            for i, (w, t) in enumerate(extracted(count + 200))
        ]
        latencies: list[float] = []
        for i, question in enumerate(questions):
            if i == 200:  # the first calls warm the interpreter
                cpu_began = time.process_time()
            began = time.perf_counter()
            await client.evaluate([question], timeout=2.0)
            if i >= 200:
                latencies.append((time.perf_counter() - began) * 1000)
        cpu_ms = (time.process_time() - cpu_began) * 1000 / max(1, len(latencies))
    finally:
        await client.close()
    return latencies, cpu_ms


def fsync_baseline(directory: Path, count: int) -> dict[str, Any]:
    """Append-and-fsync of a decision-sized line on the same filesystem: the floor under every
    logged decision, measured in the same run (the sidecar's log fsyncs before it answers)."""
    import os

    directory.mkdir(parents=True, exist_ok=True)
    line = b"x" * 1500 + b"\n"
    latencies: list[float] = []
    fd = os.open(directory / "fsync-probe.log", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    try:
        for _ in range(count):
            began = time.perf_counter()
            os.write(fd, line)
            os.fsync(fd)
            latencies.append((time.perf_counter() - began) * 1000)
    finally:
        os.close(fd)
    return {k: round(v, 3) for k, v in summary(latencies).items() if k != "n"}


def core_throughput(count: int) -> dict[str, Any]:
    engine = PolicyEngine.build()
    tenants = example_tenants()
    registry = AdapterRegistry.builtin()
    objs = list(objects(count))
    began = time.perf_counter()
    pairs = [(registry.extract(o), o) for o in objs]
    extract_s = time.perf_counter() - began
    from bench.workloads import tenant_of

    at = datetime.now(UTC)
    work = [(w, tenants.get(tenant_of(o))) for w, o in pairs]
    began = time.perf_counter()
    for workload, tenant in work:
        engine.evaluate(workload, tenant, at)
    evaluate_s = time.perf_counter() - began
    return {
        "objects": count,
        "mix": [label for label, _, _, guarded in MIX if guarded],
        "evaluate_per_s": round(count / evaluate_s),
        "evaluate_us": round(evaluate_s / count * 1e6, 1),
        "extract_per_s": round(count / extract_s),
        "extract_us": round(extract_s / count * 1e6, 1),
    }


def run(workdir: Path, *, calls: int, core_objects: int) -> dict[str, Any]:
    with Stack(workdir / "b3", sidecar=SidecarOptions(cache_size=0)) as stack:
        if stack.webhook is not None:
            stack.webhook.stop()  # B3 talks to the sidecar alone
        latencies, hop, failures = asyncio.run(_grpc_latencies(stack.socket_path, calls))
    grpc_stats = {k: round(v, 3) for k, v in summary(latencies).items() if k != "n"}
    embedded, embedded_cpu_ms = asyncio.run(_embedded_latencies(workdir / "b3-embedded", calls))
    embedded_stats = {k: round(v, 3) for k, v in summary(embedded).items() if k != "n"}
    return {
        "grpc_uncached_ms": {**grpc_stats, "calls": len(latencies), "failures": failures},
        "embedded_uncached_ms": {
            **embedded_stats,
            "calls": len(embedded),
            "cpu_ms_per_decision": round(embedded_cpu_ms, 3),
        },
        "grpc_status_ms": {k: round(v, 3) for k, v in summary(hop).items() if k != "n"},
        "fsync_baseline_ms": fsync_baseline(workdir / "b3-fsync", calls),
        "core": core_throughput(core_objects),
    }
