"""B5: the cost of the worst object within the caps (issue 11), as a ratio to an ordinary Pod.

`python -m bench.b5_bounds [--rounds N]` times, in-process and in the same run:

* an ordinary GPU Pod (one container, one node selector): extraction, then evaluation;
* the worst Pod within every cap of `exportgate.core.limits` (MAX_CONTAINERS containers times
  MAX_PLACEMENTS affinity terms, each with several values): extraction, then evaluation;
* the bounded reader on a refused alias bomb and on deep nesting.

It prints medians and the worst-to-ordinary ratios. Figures only: the fault tests
(tests/faults/test_hostile_tenant.py, test_fuzz_hostile.py) check the outcomes under load.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime

from bench.reviews import gpu_pod
from exportgate.core.documents import parse_documents
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry
from exportgate.core.limits import MAX_CONTAINERS, MAX_PLACEMENTS
from exportgate.core.tenants import parse_tenant_text
from tests.faults.test_fuzz_hostile import alias_bomb, cross_pod, deep


def _median_s(function: Callable[[], object], rounds: int) -> float:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        with contextlib.suppress(InputError):  # the refusal is what is timed
            function()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def run(rounds: int = 20) -> dict[str, float]:
    registry = AdapterRegistry.builtin()
    engine = PolicyEngine.build()
    tenant = parse_tenant_text(
        "apiVersion: exportgate.dev/v1alpha1\nkind: Tenant\nmetadata: {name: t}\nspec:\n"
        "  legalName: T\n  incorporation: CN\n  headquarters: CN\n"
        "  verification: {state: Verified}\n",
        "bench",
    )[0]
    at = datetime.now(UTC)
    ordinary, worst = gpu_pod("nimbus-ml", 1), cross_pod(MAX_CONTAINERS, MAX_PLACEMENTS, 8)
    ordinary_w, worst_w = registry.extract(ordinary), registry.extract(worst)
    figures = {
        "extract_ordinary_ms": _median_s(lambda: registry.extract(ordinary), rounds) * 1e3,
        "extract_worst_ms": _median_s(lambda: registry.extract(worst), rounds) * 1e3,
        "evaluate_ordinary_ms": _median_s(lambda: engine.evaluate(ordinary_w, tenant, at), rounds)
        * 1e3,
        "evaluate_worst_ms": _median_s(lambda: engine.evaluate(worst_w, tenant, at), rounds) * 1e3,
        "alias_bomb_refused_ms": _median_s(lambda: parse_documents(alias_bomb(9, 9), "b"), rounds)
        * 1e3,
        "deep_refused_ms": _median_s(lambda: parse_documents(deep(5000, "flow"), "d"), rounds)
        * 1e3,
    }
    figures["extract_ratio"] = figures["extract_worst_ms"] / figures["extract_ordinary_ms"]
    figures["evaluate_ratio"] = figures["evaluate_worst_ms"] / figures["evaluate_ordinary_ms"]
    return figures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=20)
    for name, value in run(parser.parse_args().rounds).items():
        print(f"{name:24} {value:10.2f}")


if __name__ == "__main__":
    main()
