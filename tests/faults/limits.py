"""What the fault tests hold the processes to: the chart's memory limits, as the chart renders
them for each shape.

The webhook's limit depends on where the policy service runs (embedded it holds the service
too), and the chart sizes it in a template when `webhook.resources` is left unset; so the
limits are read from `helm template` of the chart's defaults (real helm, as tests/charts use
it), never restated here.
"""

from __future__ import annotations

import functools
import tempfile
from pathlib import Path

from tests.charts.chart import RELEASE, container, template, write_values

WEBHOOK_DEPLOYMENT = f"{RELEASE}-exportgate-webhook"
_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def _bytes(quantity: str) -> int:
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


@functools.cache
def chart_memory_limit(component: str, shape: str = "sidecar") -> int:
    """The memory limit of container `component` ("webhook" or "sidecar") of the webhook pod
    the chart renders by default for `shape` ("sidecar" or "embedded"), in bytes."""
    with tempfile.TemporaryDirectory() as directory:
        values = write_values(Path(directory), {"policyService": {"mode": shape}})
        docs = template(values)
    resources = container(docs, WEBHOOK_DEPLOYMENT, component)["resources"]
    return _bytes(str(resources["limits"]["memory"]))


def peak_rss(pid: int) -> int:
    """Peak resident set size (VmHWM) of a running process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")
