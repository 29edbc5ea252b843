"""The two shapes the policy service runs in, as real processes for the fault tests.

- ``sidecar``: an `exportgate-sidecar` process and a webhook that asks it over its Unix socket;
- ``embedded``: one `exportgate-webhook --sidecar embedded` process hosting the service itself
  (the chart's default).

Both are `bench.harness.Stack` (``embedded=``), which gives the embedded webhook exactly the
service flags the sidecar would get, so both shapes decide from the same tenants and policies
with the same cache and log settings. A test whose promise holds in both takes the `shape`
fixture (parametrised over SHAPES) and hands it to `make_stack`.
"""

from __future__ import annotations

from bench.harness import Proc, Stack

SHAPES = ("sidecar", "embedded")


def embedded(shape: str) -> bool:
    if shape not in SHAPES:
        raise ValueError(f"unknown shape {shape!r}; one of {SHAPES}")
    return shape == "embedded"


def service_proc(stack: Stack) -> Proc:
    """The process that hosts the policy service and writes the decision log."""
    proc = stack.webhook if stack.embedded else stack.sidecar
    assert proc is not None, "the stack is not started"
    return proc
