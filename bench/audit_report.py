"""Audit report at scale: verify + report over 1 million decision records (issue 15).

    python -m bench.audit_report [--records 1000000] [--files 4] [--keep DIR]

Writes the logs with the real writer (no fsync: this measures the reader, not the disk),
`--files` replicas each rotating at 64 MiB, then runs ``exportgate audit report --html --csv``
over all of them in a child process and measures its wall time and peak resident memory
(``ru_maxrss`` of the child). Target: under 60 s and 500 MiB on the 2-core machine. The figures
are written into their own section of bench/RESULTS.md (other sections are left alone).
"""

from __future__ import annotations

import argparse
import os
import platform
import re
import resource
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench.sections import replace_section
from exportgate.core.engine import PolicyEngine
from exportgate.decisionlog import DecisionLog, LogEntry
from exportgate.decisionlog.segments import rotated_segments
from exportgate.decisionlog.snapshots import keep_policy_snapshot
from tests.audit.builders import TENANTS, WORKLOADS, StepClock

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "RESULTS.md"
SECTION = "audit-report"  # its figures sit between <!-- audit-report:start/end --> markers
TARGET_SECONDS, TARGET_MIB = 60.0, 500.0
SEGMENT_BYTES = 64 * 1024 * 1024


def generate(directory: Path, records: int, files: int) -> list[Path]:
    engine = PolicyEngine.build()
    keep_policy_snapshot(engine)
    clock = StepClock(step=timedelta(seconds=3))
    # Every (tenant, workload) pair decided once; the records reuse those decisions, so the
    # time goes into writing, not evaluating.
    entries = [
        LogEntry(
            engine.evaluate(work, tenant, clock.now),
            user=f"user-{tenant.name}",
            operation="CREATE",
            extra={"policyVersion": engine.version},
            workload=work,
            tenant_record=tenant,
        )
        for tenant in TENANTS.values()
        for work in WORKLOADS
    ]
    paths: list[Path] = []
    per_file = records // files
    for index in range(files):
        path = directory / f"replica-{index}" / "decisions.jsonl"
        path.parent.mkdir(parents=True)
        with DecisionLog(
            path, fsync=False, clock=clock, component=f"sidecar@replica-{index}",
            cluster=f"cluster-{index % 2}", max_bytes=SEGMENT_BYTES,
        ) as log:  # fmt: skip
            written = 0
            while written < per_file:
                batch = min(500, per_file - written)
                log.record_many(entries[(written + i) % len(entries)] for i in range(batch))
                written += batch
        paths += [*rotated_segments(path), path]
    return paths


def _tree_rss_mib(root: int) -> float:
    """Resident memory of `root` and all its descendants (the report's worker processes)."""
    parents: dict[int, int] = {}
    rss: dict[int, int] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stream:
                fields = stream.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * os.sysconf("SC_PAGE_SIZE")
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent]
        members.update(children)
        frontier.extend(children)
    return sum(rss.get(pid, 0) for pid in members) / 2**20


def measure(paths: list[Path], out: Path) -> dict[str, Any]:
    command = [
        sys.executable, "-m", "exportgate.cli.main", "audit", "report",
        "--html", str(out / "report.html"), "--csv", str(out / "report.csv"),
        *map(str, paths),
    ]  # fmt: skip
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    load = os.getloadavg()[0]
    started = time.perf_counter()
    child = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True)
    peak = 0.0
    while child.poll() is None:
        peak = max(peak, _tree_rss_mib(child.pid))
        time.sleep(0.05)
    seconds = time.perf_counter() - started
    stderr = child.stderr.read() if child.stderr else ""
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    load_after = os.getloadavg()[0]
    if child.returncode != 0:
        sys.exit(f"audit report failed ({child.returncode}):\n{stderr[-2000:]}")
    return {
        "seconds": seconds,
        "cpu": (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime),
        "peak": peak,
        "load": load,
        "load_after": load_after,
        "summary": stderr.strip().splitlines()[-1],
    }


_FIGURE = {
    "wall": r"\| wall time, verify \+ report \| ([\d.,]+) s",
    "cpu": r"\| CPU time \(user \+ sys, all processes\) \| ([\d.,]+) s",
    "peak": r"\| peak resident memory \| ([\d.,]+) MiB",
    "load": r"\| load average when it started \| ([\d.,]+)",
    "records": r"## Audit report over ([\d,]+) decision records",
}


def previous_figures() -> dict[str, str]:
    """The figures this script last wrote into RESULTS.md (for a before/after line)."""
    current = RESULTS.read_text() if RESULTS.exists() else ""
    found = re.search(
        r"<!-- audit-report:start -->(.*?)<!-- audit-report:end -->", current, flags=re.S
    )
    if found is None:
        return {}
    figures = {key: re.search(pattern, found.group(1)) for key, pattern in _FIGURE.items()}
    return {key: match.group(1) for key, match in figures.items() if match is not None}


def write_section(text: str) -> None:
    """Put `text` between this script's markers in RESULTS.md and touch nothing else."""
    current = RESULTS.read_text() if RESULTS.exists() else ""
    RESULTS.write_text(replace_section(current, SECTION, text))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=1_000_000)
    parser.add_argument("--files", type=int, default=4)
    parser.add_argument("--keep", type=Path, help="keep the logs and outputs in this directory")
    parser.add_argument("--no-write", action="store_true", help="do not touch RESULTS.md")
    parser.add_argument(
        "--reuse", action="store_true", help="with --keep: measure the logs already there"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eg-audit-bench-") as scratch:
        work = args.keep or Path(scratch)
        work.mkdir(parents=True, exist_ok=True)
        if args.reuse and (work / "logs").exists():
            paths = sorted((work / "logs").glob("*/decisions*.jsonl"))
        else:
            paths = generate(work / "logs", args.records, args.files)
        size_mib = sum(p.stat().st_size for p in paths) / 2**20
        figures = measure(paths, work)
        seconds, peak, summary = figures["seconds"], figures["peak"], figures["summary"]
        html_mib = (work / "report.html").stat().st_size / 2**20
        csv_mib = (work / "report.csv").stat().st_size / 2**20
    ok_time, ok_mem = seconds < TARGET_SECONDS, peak < TARGET_MIB
    verdict_time, verdict_mem = ("met" if ok else "MISSED" for ok in (ok_time, ok_mem))
    busy = (
        f"\n**This run shared the machine (load average {figures['load']:.1f} at the start, "
        f"{figures['load_after']:.1f} at the end, on "
        f"{os.cpu_count()} CPUs): its wall time is mostly waiting for a CPU and does not show "
        "whether the target is met; rerun on an idle machine to check it.**\n"
        if max(figures["load"], figures["load_after"]) > (os.cpu_count() or 1)
        else ""
    )
    machine = f"{platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}"
    before = previous_figures()
    previous = (
        f"\nThe run this one replaced ({before['records']} records): {before['wall']} s wall, "
        f"{before['cpu']} s CPU, {before['peak']} MiB peak, load average {before['load']}.\n"
        if len(before) == len(_FIGURE)
        else ""
    )
    text = f"""## Audit report over {args.records:,} decision records (issue 15)

`python -m bench.audit_report --records {args.records}`: {args.files} replica logs in
{len(paths)} files ({size_mib:,.0f} MiB, rotated at 64 MiB), written by the real writer
(with inputs and snapshots, as the sidecar writes them); then
`exportgate audit report --html --csv` over all of them in a child process (verify every
chain, count, merge by time, write {html_mib:.1f} MiB of HTML and {csv_mib:,.0f} MiB of CSV).
{machine}.

| measure | value | target | verdict |
|---|---|---|---|
| wall time, verify + report | {seconds:.1f} s | < {TARGET_SECONDS:.0f} s | {verdict_time} |
| peak resident memory | {peak:.0f} MiB | < {TARGET_MIB:.0f} MiB | {verdict_mem} |
| records per second | {args.records / seconds:,.0f} | | |
| CPU time (user + sys, all processes) | {figures["cpu"]:.1f} s | | |
| load average when it started | {figures["load"]:.1f} | | |
| load average when it ended | {figures["load_after"]:.1f} | | |

Peak memory is the sum over the report process and its worker processes (one per CPU), sampled
every 50 ms. Files are read by one process per CPU, so on an idle machine the wall time
approaches the CPU time divided by the number of CPUs, plus the single-process merge (a few
seconds). Wall time depends on what else runs (a load average of 1 is a whole CPU taken), and
so does CPU time, less: work runs slower while the other vCPU of a core is busy. Compare runs
made under the same load, or old and new code interleaved on the same logs.
{busy}{previous}
The report's own summary line: `{summary}`
"""
    print(text)
    if not args.no_write:
        write_section(text)


if __name__ == "__main__":
    main()
