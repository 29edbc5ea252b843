"""Where the time goes on the hot path: cProfile of the webhook (policy service embedded, the
chart's default shape) under the B1 load (uncached, so every guarded review is evaluated), plus
the core in-process.

cProfile sees the main thread only: time spent in the decision log's fsync runs on a worker
thread and shows up on the main thread as the event loop waiting (select/epoll). The profiled
webhook runs on the stdlib loop, not uvloop (`Stack._profiled_env` says why).
"""

from __future__ import annotations

import cProfile
import io
import pstats
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.harness import SidecarOptions, Stack
from bench.load import drive
from bench.workloads import example_tenants, objects, tenant_of
from exportgate.core.engine import PolicyEngine
from exportgate.core.extract import AdapterRegistry


def _top(stats: pstats.Stats, limit: int) -> list[dict[str, Any]]:
    """The functions with the most own time, as rows."""
    total = stats.total_tt or 1.0  # type: ignore[attr-defined]
    rows = []
    for (filename, line, name), (_, ncalls, tottime, cumtime, _) in sorted(
        stats.stats.items(),  # type: ignore[attr-defined]
        key=lambda kv: -kv[1][2],
    )[:limit]:
        short = filename.split("site-packages/")[-1].split("/work/main/")[-1]
        rows.append(
            {
                "function": f"{short}:{line}({name})",
                "calls": ncalls,
                "own_pct": round(tottime / total * 100, 1),
                "cum_s": round(cumtime, 3),
            }
        )
    return rows


_IDLE = "'poll' of 'select.epoll'"


def _busy(stats: pstats.Stats) -> tuple[float, float]:
    """(total, busy) seconds of the main thread: busy is everything but waiting in epoll."""
    total = float(stats.total_tt or 1.0)  # type: ignore[attr-defined]
    idle = sum(
        tottime
        for (_, _, name), (_, _, tottime, _, _) in stats.stats.items()  # type: ignore[attr-defined]
        if _IDLE in name
    )
    return total, max(total - idle, 1e-9)


def _cumulative(stats: pstats.Stats, needles: dict[str, str]) -> dict[str, float]:
    """Share of the main thread's busy time spent inside functions whose file:name contains
    each needle (start-up included)."""
    _, total = _busy(stats)
    found: dict[str, float] = {}
    for label, needle in needles.items():
        best = 0.0
        for (filename, _, name), (_, _, _, cumtime, _) in stats.stats.items():  # type: ignore[attr-defined]
            if needle in f"{filename}:{name}":
                best = max(best, cumtime)
        found[label] = round(best / total * 100, 1)
    return found


def processes(workdir: Path, *, duration: float, limit: int = 12) -> dict[str, Any]:
    profiles = workdir / "profiles"
    # The chart's default shape: the policy service embedded in the webhook, one process.
    with Stack(
        workdir / "stack",
        sidecar=SidecarOptions(cache_size=0),
        embedded=True,
        profile_dir=profiles,
    ) as st:
        load = drive(
            st.url + "/validate",
            st.tls.ca_path,
            concurrency=16,
            duration=duration,
            distinct=10**9,
            guarded_only=True,
        )
    out: dict[str, Any] = {
        "requests": load.ok + load.failed,
        "throughput_rps": round(load.throughput),
    }
    for name in ("exportgate-webhook",):
        path = profiles / f"{name}.prof"
        if not path.exists():
            out[name] = {"error": "no profile written (process did not exit cleanly)"}
            continue
        stats = pstats.Stats(str(path), stream=io.StringIO())
        out[name] = {
            "top_own_time": _top(stats, limit),
            "inclusive_pct": _cumulative(
                stats,
                {
                    "HTTP/1.1 request handling": "exportgate_webhook/http1.py:_serve",
                    "admission review": "admission.py:validate",
                    "json decode": "json/decoder.py:decode",
                    "json encode": "json/encoder.py:encode",
                    "extract": "extract/registry.py:extract",
                    "engine.evaluate": "core/engine.py:evaluate",
                    "decision log": "service/journal.py:write",
                    "decision log rendering": "decisionlog/writer.py:_render_locked",
                    "decision record value check": "decisionlog/canonical.py:check_values",
                    "policy service evaluate": "service/evaluate.py:evaluate",
                    "ssl read": "sslproto.py:_do_read",
                    "ssl write": "sslproto.py:_do_write",
                    "batching": "wire/batch.py:_ask",
                    "imports (start-up)": "<frozen importlib._bootstrap>:_find_and_load",
                },
            ),
            "busy_s": round(_busy(stats)[1], 2),
            "idle_pct": round((1 - _busy(stats)[1] / _busy(stats)[0]) * 100, 1),
        }
    return out


def core(count: int, limit: int = 12) -> dict[str, Any]:
    engine = PolicyEngine.build()
    tenants = example_tenants()
    registry = AdapterRegistry.builtin()
    objs = list(objects(count))
    at = datetime.now(UTC)
    profiler = cProfile.Profile()
    profiler.enable()
    for obj in objs:
        engine.evaluate(registry.extract(obj), tenants.get(tenant_of(obj)), at)
    profiler.disable()
    stats = pstats.Stats(profiler, stream=io.StringIO())
    return {"objects": count, "top_own_time": _top(stats, limit)}


def run(workdir: Path, *, duration: float, core_objects: int) -> dict[str, Any]:
    return {"processes": processes(workdir, duration=duration), "core": core(core_objects)}
