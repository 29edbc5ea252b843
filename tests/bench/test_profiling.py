"""The hot-path profile stays readable: the profiled webhook's idle time and TLS work are seen."""

from __future__ import annotations

from pathlib import Path

from bench import profiling


def test_the_profiled_webhook_shows_its_idle_time_and_its_tls(tmp_path: Path) -> None:
    # On uvloop (the webhook's default) cProfile would see neither: the loop waits and does TLS
    # in C and charges the wait to some Python frame. The profile step runs the stdlib loop.
    profile = profiling.processes(tmp_path, duration=1.0)["exportgate-webhook"]
    assert "error" not in profile
    assert profile["idle_pct"] > 0
    assert profile["inclusive_pct"]["ssl read"] > 0
    assert profile["inclusive_pct"]["engine.evaluate"] > 0
