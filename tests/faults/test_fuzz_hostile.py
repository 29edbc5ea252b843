"""The fuzz run over hostile documents (issue 11): what no input may do to exportgate's readers.

Alias bombs, deep nesting (flow, block and JSON), huge scalars, many documents, and cross-product
Pods (containers x affinity terms, inside and past the caps), generated with hypothesis. Each
input is read the way the CLI, the sidecar and the webhook read it (the shared bounded reader,
then extraction), and must end within a time and memory bound per input, either read or refused
with ONE line naming the problem (`InputError`), never anything else. The same inputs through the
real `exportgate check` (exit 2, one line, under an address-space limit) and as AdmissionReview
bodies to the real webhook (200 or 400, never 5xx) close the loop.

Bounds are far above what a correct reader needs (a refused alias bomb takes milliseconds); they
exist to turn a regression to exponential or unbounded work into a failure instead of a hang.
EXPORTGATE_FUZZ_EXAMPLES sets the number of generated inputs (default 150).
"""

from __future__ import annotations

import json
import resource
import subprocess
import time
import tracemalloc
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.harness import Stack
from bench.reviews import review
from exportgate.core.documents import flatten_lists, parse_documents
from exportgate.core.errors import InputError
from exportgate.core.extract import extract_workload
from tests.commands import EXPORTGATE
from tests.faults.conftest import env_int

EXAMPLES = env_int("EXPORTGATE_FUZZ_EXAMPLES", 150)
TIME_BOUND_S = 10.0  # CPU seconds per input (not wall time: the machine is shared)
MEMORY_BOUND = 256 * 2**20  # traced Python allocations per input
CLI_ADDRESS_SPACE = 2 * 2**30  # RLIMIT_AS of the `exportgate check` subprocess

# -- hostile inputs --------------------------------------------------------------------------


def alias_bomb(levels: int, fanout: int) -> str:
    text = "a0: &a0 [" + ",".join(['"lol"'] * fanout) + "]\n"
    for level in range(1, levels):
        text += f"a{level}: &a{level} [" + ",".join([f"*a{level - 1}"] * fanout) + "]\n"
    return text


def deep(levels: int, style: str) -> str:
    if style == "flow":
        return "[" * levels + "]" * levels
    if style == "json":
        return '{"a":' * levels + "1" + "}" * levels
    return "".join(f"{'  ' * i}k{i}:\n" for i in range(levels)) + "  " * levels + "x: 1\n"


def huge_scalar(mib: int) -> str:
    return "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: big}\ndata:\n  x: " + (
        "y" * (mib * 2**20)
    ) + "\n"


def cross_pod(containers: int, terms: int, values: int) -> dict[str, Any]:
    return {
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": "cross", "namespace": "nimbus-ml"},
        "spec": {
            "containers": [
                {"name": f"c{i}", "image": "x", "resources": {"limits": {"nvidia.com/gpu": 1}}}
                for i in range(containers)
            ],
            "affinity": {"nodeAffinity": {"requiredDuringSchedulingIgnoredDuringExecution": {
                "nodeSelectorTerms": [
                    {"matchExpressions": [{
                        "key": "nvidia.com/gpu.product",
                        "operator": "In",
                        "values": [f"NVIDIA-H100-{t}-{v}" for v in range(values)],
                    }]}
                    for t in range(terms)
                ]
            }}},
        },
    }  # fmt: skip


def many_documents(count: int) -> str:
    pod = json.dumps(cross_pod(2, 2, 1))
    return "\n---\n".join([pod] * count)


hostile = st.one_of(
    st.builds(alias_bomb, st.integers(1, 12), st.integers(2, 16)),
    st.builds(deep, st.integers(10, 5000), st.sampled_from(["flow", "json"])),
    st.builds(deep, st.integers(10, 1500), st.just("block")),
    st.builds(huge_scalar, st.integers(1, 4)),
    st.builds(
        lambda c, t, v: json.dumps(cross_pod(c, t, v)),
        st.integers(1, 400),
        st.integers(1, 120),
        st.integers(1, 20),
    ),
    st.builds(many_documents, st.integers(1, 1000)),
)


def read_like_exportgate(text: str) -> str:
    """Read `text` as every exportgate reader does; returns "read" or the one-line refusal."""
    try:
        for _, obj, _ in flatten_lists(parse_documents(text, "hostile.yaml")):
            if isinstance(obj, dict) and "kind" in obj:
                extract_workload(obj)
    except InputError as exc:
        return exc.describe()
    return "read"


# Each input is bounded by the assertions below; the test's own timeout only catches a hang, so
# it grows with the number of inputs: 2,000 of them (the benchmark's fault step) took 533 s
# under tracemalloc on the 2-vCPU machine, past the suite's default of 300 s.
@pytest.mark.timeout(300 + EXAMPLES // 2)
@settings(
    max_examples=EXAMPLES,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(hostile)
def test_hostile_documents_are_read_or_refused_within_bounds(text: str) -> None:
    tracemalloc.start()
    started = time.process_time()
    try:
        outcome = read_like_exportgate(text)
    finally:
        elapsed = time.process_time() - started
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert "\n" not in outcome, outcome
    assert elapsed < TIME_BOUND_S, f"{elapsed:.1f} s for {text[:120]!r}..."
    assert peak < MEMORY_BOUND, f"{peak / 2**20:.0f} MiB for {text[:120]!r}..."


# -- the same inputs through the real CLI and the real webhook -------------------------------

CASES = {
    "alias-bomb": alias_bomb(9, 9),
    "deep-flow": deep(5000, "flow"),
    "deep-json": deep(5000, "json"),
    "huge-scalar": huge_scalar(4),
    "cross-product-past-caps": json.dumps(cross_pod(400, 120, 20)),
    "cross-product-at-caps": json.dumps(cross_pod(256, 64, 4)),
}


def _limit_address_space() -> None:
    resource.setrlimit(resource.RLIMIT_AS, (CLI_ADDRESS_SPACE, CLI_ADDRESS_SPACE))


@pytest.mark.parametrize("case", sorted(CASES))
def test_exportgate_check_refuses_hostile_files_in_one_line(case: str, tmp_path: Path) -> None:
    path = tmp_path / f"{case}.yaml"
    path.write_text(CASES[case])
    proc = subprocess.run(
        [str(EXPORTGATE), "check", str(path)],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_limit_address_space,
        check=False,
    )
    if case in ("cross-product-at-caps", "huge-scalar"):
        assert proc.returncode in (0, 3), proc.stderr  # read and decided: within the caps
        return
    assert proc.returncode == 2, (proc.returncode, proc.stderr[-2000:])
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in proc.stderr, proc.stderr[-2000:]
    assert any(word in lines[0] for word in ("MAX_", "cap")), lines[0]


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with Stack(tmp_path_factory.mktemp("hostile")) as running:
        yield running


@pytest.mark.parametrize("case", ["deep-json", "cross-product-past-caps", "cross-product-at-caps"])
def test_the_webhook_answers_hostile_bodies_without_5xx(stack: Stack, case: str) -> None:
    import http.client

    obj = json.loads(CASES[case]) if case.startswith("cross") else None
    body = (
        json.dumps(review(obj)).encode()
        if obj is not None
        else b'{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":'
        + CASES[case].encode() + b"}"
    )
    conn = http.client.HTTPSConnection(
        "127.0.0.1", stack.port, context=stack.client_ssl_context(), timeout=30
    )
    conn.request("POST", "/validate", body, {"Content-Type": "application/json"})
    reply = conn.getresponse()
    payload = json.loads(reply.read())
    conn.close()
    assert stack.webhook is not None and stack.webhook.alive()
    if case == "deep-json":
        assert reply.status == 400 and "MAX_DEPTH" in payload["message"]
        return
    assert reply.status == 200
    response = payload["response"]
    if case == "cross-product-past-caps":
        assert response["status"]["code"] == 400 and "MAX_" in response["status"]["message"]
    else:
        assert response.get("status", {}).get("code") in (None, 403)
