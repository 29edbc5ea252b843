"""Fuzzing the running webhook with hypothesis: AdmissionReviews and manifests it must survive.

Properties, checked against the real webhook + sidecar over TLS:

* it never crashes, never answers 5xx and never drops the connection: a review is answered
  (200) or refused as malformed (400);
* never an allow for a guarded object it could not read: a Pod that asks for nvidia.com/gpu in a
  container's limits (non-zero, or unreadable) is either decided by the sidecar (the allow
  carries a decision id, so a record exists) or denied.

CI runs EXPORTGATE_FUZZ_EXAMPLES (default 150) examples per property. The long run is
`EXPORTGATE_FUZZ_LONG=1 pytest -m slow tests/faults/test_fuzz.py` (EXPORTGATE_FUZZ_LONG_EXAMPLES,
default 100,000 in total).
"""

from __future__ import annotations

import copy
import http.client
import json
import os
import re
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bench.harness import Stack, WebhookOptions
from bench.reviews import deployment, gpu_pod, inference_service, nodepool, review
from tests.faults.conftest import Record, env_int

EXAMPLES = env_int("EXPORTGATE_FUZZ_EXAMPLES", 150)
NAMESPACES = ["acme-ml", "nimbus-ml", "orbit-ml", "unbound-ml", "no-such-ns", "kube-system"]
EXEMPT = {"kube-system"}


class Webhook:
    """A keep-alive HTTPS connection to the webhook, reopened only if the server closes it."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.context = stack.client_ssl_context()
        self.conn: http.client.HTTPSConnection | None = None
        self.sent = 0
        self.dropped = 0
        self.status_counts: dict[int, int] = {}

    def post(self, path: str, body: bytes) -> tuple[int, dict[str, Any] | None]:
        for attempt in (1, 2):
            if self.conn is None:
                self.conn = http.client.HTTPSConnection(
                    "127.0.0.1", self.stack.port, context=self.context, timeout=10
                )
            try:
                self.conn.request("POST", path, body, {"Content-Type": "application/json"})
                reply = self.conn.getresponse()
                payload = reply.read()
            except (http.client.HTTPException, OSError):
                self.conn.close()
                self.conn = None
                if attempt == 2:
                    raise
                self.dropped += 1  # the server closed a kept-alive connection: count and retry
                continue
            self.sent += 1
            self.status_counts[reply.status] = self.status_counts.get(reply.status, 0) + 1
            try:
                document = json.loads(payload)
            except ValueError:
                return reply.status, None
            return reply.status, document.get("response") if isinstance(document, dict) else None
        raise AssertionError("unreachable")


@pytest.fixture(scope="module")
def webhook() -> Iterator[Webhook]:
    # With the opt-in stamp, so /mutate's patches are fuzzed too.
    with (
        tempfile.TemporaryDirectory(prefix="eg-fuzz-") as tmp,
        Stack(Path(tmp), webhook=WebhookOptions(mutate=True)) as stack,
    ):
        client = Webhook(stack)
        yield client
        assert stack.webhook is not None and stack.sidecar is not None
        assert stack.webhook.alive(), stack.webhook.log_tail()
        assert stack.sidecar.alive(), stack.sidecar.log_tail()
        log = stack.webhook.log_path.read_text(errors="replace")
        assert "Traceback" not in log or "review failed" not in log, log[-3000:]


# -- strategies -----------------------------------------------------------------------------------

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63),
    st.floats(allow_nan=False),
    st.text(max_size=20),
    st.sampled_from(
        [
            "8",
            "1",
            "0",
            "-1",
            "1.5",
            "500m",
            "1e3",
            "1Ki",
            "",
            "NaN",
            "Infinity",
            "0x10",
            " 2",
            "2 ",
            "²",
        ]
    ),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner, max_size=4)
    ),
    max_leaves=12,
)
PRODUCTS = ["NVIDIA-H100-80GB-HBM3", "Tesla-T4", "NVIDIA-A100-SXM4-80GB", "", "nvidia-h20", "???"]

POD_PATHS: list[tuple[str | int, ...]] = [
    ("metadata",),
    ("metadata", "name"),
    ("metadata", "labels"),
    ("metadata", "annotations"),
    ("metadata", "namespace"),
    ("spec",),
    ("spec", "nodeSelector"),
    ("spec", "nodeSelector", "nvidia.com/gpu.product"),
    ("spec", "affinity"),
    ("spec", "containers", 0, "image"),
    ("spec", "containers", 0, "resources"),
    ("spec", "containers", 0, "resources", "requests"),
    ("spec", "containers", 0, "args"),
    ("spec", "containers", 0, "env"),
    ("spec", "initContainers"),
    ("spec", "resourceClaims"),
    ("spec", "overhead"),
    ("spec", "runtimeClassName"),
    ("kind",),
    ("apiVersion",),
]


def _set(obj: Any, path: tuple[Any, ...], value: Any) -> None:
    for key in path[:-1]:
        if isinstance(obj, dict) and isinstance(key, str):
            obj = obj.setdefault(key, {})
        elif isinstance(obj, list) and isinstance(key, int) and key < len(obj):
            obj = obj[key]
        else:
            return
    last = path[-1]
    if isinstance(obj, dict) and isinstance(last, str):
        obj[last] = value
        return
    if isinstance(obj, list) and isinstance(last, int) and last < len(obj):
        obj[last] = value


@st.composite
def gpu_pod_reviews(draw: st.DrawFn) -> dict[str, Any]:
    namespace = draw(st.sampled_from(NAMESPACES))
    pod = gpu_pod(namespace, draw(st.integers(0, 10**6)), draw(st.sampled_from(PRODUCTS)))
    pod["spec"]["containers"][0]["resources"]["limits"]["nvidia.com/gpu"] = draw(
        st.one_of(st.integers(-3, 16), json_scalars, json_values)
    )
    operation = draw(st.sampled_from(["CREATE", "UPDATE", "CREATE", "DELETE", "CONNECT"]))
    # The envelope is built from the intact Pod (the API server derives kind, name and namespace
    # from the URL); only the object the webhook has to read is fuzzed.
    body = review(pod, operation)
    for path, value in draw(
        st.lists(st.tuples(st.sampled_from(POD_PATHS), json_values), max_size=3)
    ):
        _set(pod, path, value)
    if operation == "UPDATE":
        body["request"]["oldObject"] = (
            copy.deepcopy(pod) if draw(st.booleans()) else draw(json_values)
        )
    return body


_ZERO = re.compile(r"^\+?0*(\.0*)?(m|k|M|G|T|P|E|Ki|Mi|Gi|Ti|Pi|Ei)?$")


def _asks_for_gpu(review_body: dict[str, Any]) -> bool:
    """The fuzzed Pod still asks for a GPU in a container's limits (non-zero or unreadable)."""
    request = review_body["request"]
    if request["operation"] not in ("CREATE", "UPDATE") or request.get("namespace") in EXEMPT:
        return False
    obj = request.get("object")
    if not isinstance(obj, dict) or obj.get("kind") != "Pod" or obj.get("apiVersion") != "v1":
        return False
    metadata = obj.get("metadata")
    if isinstance(metadata, dict) and metadata.get("deletionTimestamp"):
        return False
    spec = obj.get("spec")
    containers = spec.get("containers") if isinstance(spec, dict) else None
    if not isinstance(containers, list):
        return False
    for container in containers:
        resources = container.get("resources") if isinstance(container, dict) else None
        limits = resources.get("limits") if isinstance(resources, dict) else None
        if isinstance(limits, dict) and "nvidia.com/gpu" in limits:
            value = limits["nvidia.com/gpu"]
            if value is None or value is False:
                continue
            if isinstance(value, int | float) and not isinstance(value, bool) and value == 0:
                continue
            if isinstance(value, str) and _ZERO.match(value.strip()):
                continue
            return True
    return False


@st.composite
def other_manifest_reviews(draw: st.DrawFn) -> dict[str, Any]:
    builder = draw(st.sampled_from([deployment, inference_service]))
    obj = builder(draw(st.sampled_from(NAMESPACES[:4])), draw(st.integers(0, 1000)))
    if draw(st.booleans()):
        obj = nodepool(draw(st.sampled_from(["acme", "nimbus", "orbit", ""])), 1)
    body = review(obj, draw(st.sampled_from(["CREATE", "UPDATE"])))
    for _ in range(draw(st.integers(1, 3))):
        path = _random_path(draw, obj)
        _set(obj, path, draw(json_values))
    return body


def _random_path(draw: st.DrawFn, obj: Any) -> tuple[Any, ...]:
    path: list[Any] = []
    while isinstance(obj, dict | list) and obj and draw(st.integers(0, 4)) > 0:
        key: Any = (
            draw(st.sampled_from(sorted(obj)))
            if isinstance(obj, dict)
            else draw(st.integers(0, len(obj) - 1))
        )
        path.append(key)
        obj = obj[key]
    return tuple(path) or ("spec",)


@st.composite
def broken_envelopes(draw: st.DrawFn) -> bytes:
    """Reviews with their envelope or request fields replaced by arbitrary JSON, or raw bytes."""
    choice = draw(st.integers(0, 2))
    if choice == 0:
        return draw(st.binary(max_size=200))
    body = review(gpu_pod(draw(st.sampled_from(NAMESPACES)), 1))
    if choice == 1:
        key = draw(st.sampled_from(["apiVersion", "kind", "request"]))
        body[key] = draw(json_values)
    else:
        key = draw(
            st.sampled_from(
                [
                    "uid",
                    "kind",
                    "resource",
                    "operation",
                    "userInfo",
                    "object",
                    "oldObject",
                    "name",
                    "namespace",
                    "dryRun",
                    "options",
                    "subResource",
                ]
            )
        )
        body["request"][key] = draw(json_values)
    return json.dumps(body).encode()


# -- properties -----------------------------------------------------------------------------------

FUZZ = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.function_scoped_fixture,
        HealthCheck.data_too_large,
    ],
    derandomize=False,
    database=None,
)


def _check_gpu_pod(webhook: Webhook, body: dict[str, Any], counts: dict[str, int]) -> None:
    for path in ("/validate", "/mutate"):
        status, response = webhook.post(path, json.dumps(body).encode())
        assert status in (200, 400), (status, response)
        if status != 200:
            continue
        assert response is not None and response.get("uid") == body["request"]["uid"]
        if path == "/validate" and _asks_for_gpu(body):
            counts["guarded"] += 1
            allowed = bool(response.get("allowed"))
            audit = response.get("auditAnnotations") or {}
            assert not allowed or audit.get("decision-id"), (
                f"allowed a GPU Pod without a logged decision: {json.dumps(body)[:2000]} -> "
                f"{response}"
            )


def _record(fault_summary: Record, webhook: Webhook, cases: int, detail: str) -> None:
    """Figures of this test alone (the webhook fixture is shared by the module)."""
    bad = sum(n for s, n in webhook.status_counts.items() if s not in (200, 400))
    fault_summary(
        outcome="passed",
        cases=cases,
        requests=webhook.sent,
        failures=bad,
        detail=detail + f"; HTTP statuses {dict(sorted(webhook.status_counts.items()))}",
    )
    webhook.sent = 0
    webhook.status_counts.clear()


def test_fuzz_gpu_pods(webhook: Webhook, fault_summary: Record) -> None:
    counts = {"cases": 0, "guarded": 0}

    @FUZZ
    @given(gpu_pod_reviews())
    def prop(body: dict[str, Any]) -> None:
        counts["cases"] += 1
        _check_gpu_pod(webhook, body, counts)

    prop()
    _record(
        fault_summary,
        webhook,
        counts["cases"],
        f"{counts['guarded']} reviews still asked for a GPU; none allowed without a decision",
    )


def test_fuzz_other_manifests(webhook: Webhook, fault_summary: Record) -> None:
    cases = [0]

    @FUZZ
    @given(other_manifest_reviews())
    def prop(body: dict[str, Any]) -> None:
        cases[0] += 1
        for path in ("/validate", "/mutate"):
            status, response = webhook.post(path, json.dumps(body).encode())
            assert status in (200, 400), (status, response)

    prop()
    _record(fault_summary, webhook, cases[0], "Deployments, InferenceServices, NodePools")


def test_fuzz_broken_envelopes(webhook: Webhook, fault_summary: Record) -> None:
    cases = [0]

    @FUZZ
    @given(broken_envelopes())
    def prop(body: bytes) -> None:
        cases[0] += 1
        status, response = webhook.post("/validate", body)
        assert status in (200, 400), (status, response, body[:500])
        if status == 200 and response is not None and response.get("allowed"):
            # Only an envelope the parser accepted can be allowed; if it still names a GPU Pod
            # it must carry a decision.
            try:
                parsed = json.loads(body)
                if (
                    isinstance(parsed, dict)
                    and isinstance(parsed.get("request"), dict)
                    and _asks_for_gpu(parsed)
                ):
                    assert (response.get("auditAnnotations") or {}).get("decision-id"), response
            except (ValueError, KeyError, TypeError, AttributeError):
                pass

    prop()
    _record(fault_summary, webhook, cases[0], "raw bytes and reviews with arbitrary fields")


@pytest.mark.slow
@pytest.mark.timeout(4 * 3600)
@pytest.mark.skipif(not os.environ.get("EXPORTGATE_FUZZ_LONG"), reason="set EXPORTGATE_FUZZ_LONG=1")
def test_fuzz_long(webhook: Webhook, fault_summary: Record) -> None:
    """The dedicated run: EXPORTGATE_FUZZ_LONG_EXAMPLES cases (default 100,000), all strategies."""
    total = env_int("EXPORTGATE_FUZZ_LONG_EXAMPLES", 100_000)
    counts = {"cases": 0, "guarded": 0}
    long_run = settings(FUZZ, max_examples=total)

    @long_run
    @given(st.one_of(gpu_pod_reviews(), other_manifest_reviews()))
    def prop(body: dict[str, Any]) -> None:
        counts["cases"] += 1
        _check_gpu_pod(webhook, body, counts)

    prop()
    _record(
        fault_summary,
        webhook,
        counts["cases"],
        f"{counts['guarded']} reviews still asked for a GPU; none allowed without a decision",
    )
