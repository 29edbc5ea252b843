"""`python -m bench [--quick] [--only b1,b2,b3,b4,profile,faults]`: measure, print, write
bench/RESULTS.md (and bench/results.json with every raw figure)."""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench import b1_webhook, b2_apiserver, b3_decision, b4_scale, environment, profiling, report
from bench.harness import REPO
from bench.sections import keep_sections

STEPS = ("b1", "b2", "b3", "b4", "profile", "faults")
HERE = Path(__file__).resolve().parent


def _faults(workdir: Path, quick: bool) -> dict[str, Any]:
    """Run tests/faults with the figures written to a directory, and collect them."""
    summary_dir = workdir / "fault-summary"
    env = {
        **os.environ,
        "EXPORTGATE_FAULT_SUMMARY": str(summary_dir),
        "EXPORTGATE_FUZZ_EXAMPLES": os.environ.get(
            "EXPORTGATE_FUZZ_EXAMPLES", "200" if quick else "2000"
        ),
        "EXPORTGATE_FAULT_REQUESTS": "40" if quick else "200",
        "EXPORTGATE_KILL_ROUNDS": "3" if quick else "6",
        "EXPORTGATE_ROTATIONS": "5" if quick else "10",
        "EXPORTGATE_POLICY_FLIPS": "10" if quick else "30",
    }
    done = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "tests/faults"],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        timeout=3600,
    )
    scenarios = {}
    for path in sorted(summary_dir.glob("*.json")) if summary_dir.exists() else []:
        data = json.loads(path.read_text())
        scenarios[data.pop("scenario")] = data
    tail = done.stdout.strip().splitlines()[-1] if done.stdout.strip() else done.stderr[-300:]
    failed = [line for line in done.stdout.splitlines() if line.startswith(("FAILED", "ERROR"))]
    # The whole pytest output, kept: a failure's traceback (and the component log an assertion
    # quotes) is what tells a rare fuzz finding from noise, and the summary line cuts it off.
    output = workdir / "faults-pytest.log"
    output.write_text(done.stdout + ("\n--- stderr ---\n" + done.stderr if done.stderr else ""))
    return {
        "exit_code": done.returncode,
        "summary": tail,
        "failed": failed,
        "output": str(output),
        "scenarios": scenarios,
    }


def _write_results(path: Path, markdown: str) -> None:
    """Write RESULTS.md, keeping the sections other bench scripts own (bench/sections.py)."""
    old = path.read_text() if path.exists() else ""
    path.write_text(keep_sections(old, markdown))


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="short run (a minute or two)")
    parser.add_argument("--only", default=",".join(STEPS), help="comma-separated steps")
    parser.add_argument("--output", type=Path, default=HERE / "RESULTS.md")
    parser.add_argument(
        "--render",
        type=Path,
        nargs="+",
        metavar="RESULTS_JSON",
        help="measure nothing: write RESULTS.md again from results.json files (e.g. after "
        "editing bench/NOTES.md); with several, each step is taken from the last file that has "
        "it and every run's environment is listed",
    )
    args = parser.parse_args()
    if args.render is not None:
        saved = merge([json.loads(path.read_text()) for path in args.render])
        notes = [line for line in _notes_file().splitlines() if line.strip()]
        _write_results(args.output, report.markdown(saved, notes))
        print(report.console(saved))
        return 0
    steps = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = set(steps) - set(STEPS)
    if unknown:
        parser.error(f"unknown steps {sorted(unknown)}; choose from {', '.join(STEPS)}")
    quick = args.quick
    workdir = Path(tempfile.mkdtemp(prefix="exportgate-bench-"))
    results: dict[str, Any] = {
        "environment": environment.describe(workdir),
        "mode": "quick" if quick else "full",
    }

    def step(name: str, fn: Any) -> None:
        if name not in steps:
            return
        began = time.monotonic()
        print(f"[bench] {name} ...", file=sys.stderr, flush=True)
        try:
            results[name] = fn()
        except Exception as exc:
            results[name] = {"error": f"{type(exc).__name__}: {exc}"}
            print(f"[bench] {name} failed: {exc}", file=sys.stderr)
        print(f"[bench] {name} took {time.monotonic() - began:.0f}s", file=sys.stderr, flush=True)

    b1 = b1_webhook.B1Config(
        concurrencies=(1, 8, 32) if quick else (1, 4, 16, 64),
        duration_s=3.0 if quick else 8.0,
        warmup_s=1.0 if quick else 2.0,
        rounds=1 if quick else 2,
    )
    step("b1", lambda: b1_webhook.run(workdir, b1))
    step(
        "b2",
        lambda: b2_apiserver.run(
            workdir, creates=100 if quick else 2000, sweep_creates=96 if quick else 2000
        ),
    )
    step(
        "b3",
        lambda: b3_decision.run(
            workdir, calls=500 if quick else 3000, core_objects=5000 if quick else 30000
        ),
    )
    step(
        "b4",
        lambda: b4_scale.run(
            workdir,
            reaudit_objects=20_000 if quick else 100_000,
            tenants=10_000,
            policies=1_000,
            load_s=3 if quick else 10,
        ),
    )
    step(
        "profile",
        lambda: profiling.run(
            workdir, duration=4 if quick else 10, core_objects=3000 if quick else 20000
        ),
    )
    step("faults", lambda: _faults(workdir, quick))

    notes = [line for line in _notes_file().splitlines() if line.strip()]
    _write_results(args.output, report.markdown(results, notes))
    (args.output.parent / "results.json").write_text(json.dumps(results, indent=1, default=str))
    print(report.console(results))
    print(f"\nwrote {args.output}", file=sys.stderr)
    return 0


def merge(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """Steps from several runs: the last run that measured a step wins; every run that
    contributed is listed with its environment and steps."""
    if len(runs) == 1:
        return runs[0]
    merged: dict[str, Any] = {"environment": runs[-1]["environment"], "mode": runs[0]["mode"]}
    contributed: list[dict[str, Any]] = []
    for run in runs:
        steps = [s for s in STEPS if s in run]
        for step in steps:
            merged[step] = run[step]
        for previous in run.get("runs", []):
            contributed.append(previous)
        if "runs" not in run:
            contributed.append({**run["environment"], "mode": run["mode"], "steps": steps})
    # Each step's figures come from the last run that measured it.
    used: set[str] = set()
    for run_info in reversed(contributed):
        run_info["used"] = [s for s in run_info["steps"] if s not in used]
        used |= set(run_info["steps"])
    merged["runs"] = contributed
    return merged


def _notes_file() -> str:
    """Hand-written explanations of gaps (bench/NOTES.md), kept next to the generated figures."""
    path = HERE / "NOTES.md"
    return path.read_text() if path.exists() else ""


if __name__ == "__main__":
    sys.exit(main())
