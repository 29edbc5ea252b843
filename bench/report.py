"""Turn the measured results into the table printed on stdout and bench/RESULTS.md."""

from __future__ import annotations

from typing import Any

from bench import b2_compare, report_b2

Row = tuple[str, str, str, str]


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "NOT met")


def _b1_targets(b1: dict[str, Any]) -> list[Row]:
    cached = b1.get("cached", [])
    within = [r for r in cached if r["p99_ms"] <= 10.0]
    best = max(within, key=lambda r: r["throughput_rps"]) if within else None
    peak = max(cached, key=lambda r: r["throughput_rps"]) if cached else None
    rows: list[Row] = []
    if best:
        rows.append(
            (
                "B1 cached throughput with p99 <= 10 ms",
                ">= 1,500 reviews/s",
                f"{best['throughput_rps']:.0f}/s at concurrency {best['concurrency']} "
                f"(p99 {best['p99_ms']} ms)",
                _verdict(best["throughput_rps"] >= 1500),
            )
        )
    elif peak:
        rows.append(
            (
                "B1 cached throughput with p99 <= 10 ms",
                ">= 1,500 reviews/s",
                "no concurrency kept p99 <= 10 ms "
                f"(best p99 {min(r['p99_ms'] for r in cached)} ms)",
                "NOT met",
            )
        )
    if peak:
        rows.append(
            (
                "B1 cached peak throughput vs no-op webhook",
                ">= 50%",
                f"{peak['vs_noop'] * 100:.0f}% ({peak['throughput_rps']:.0f}/s at concurrency "
                f"{peak['concurrency']})",
                _verdict(peak["vs_noop"] >= 0.5),
            )
        )
    if cached and all("server_cpu_ms_per_review" in r for r in cached):
        best_cpu = min(cached, key=lambda r: r["server_cpu_ms_per_review"])
        capacity = 2000 / best_cpu["server_cpu_ms_per_review"]
        rows.append(
            (
                "B1 cached capacity of 2 cores (derived: 2000 ms / CPU ms per review)",
                ">= 1,500 reviews/s",
                f"{capacity:.0f}/s ({best_cpu['server_cpu_ms_per_review']} CPU ms per review, "
                f"{best_cpu['cpu_vs_noop']}x the no-op's)",
                _verdict(capacity >= 1500),
            )
        )
    return rows


def targets(results: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    if "b1" in results:
        rows += _b1_targets(results["b1"])
    b2_results = results.get("b2", {})
    b2 = report_b2.rows(b2_results)
    if "exportgate" in b2 and "none" in b2:
        ratio = b2["exportgate"]["p99_vs_none"]
        interval = b2["exportgate"].get("p99_vs_none_ci")
        within = f", 95% interval {interval[0]}-{interval[1]}x" if interval else ""
        rows.append(
            (
                "B2 Pod CREATE p99 with exportgate (default: validating only) vs no webhook",
                "<= 1.25x (issue 16: <= 1.5x)",
                f"{ratio}x{within} ({b2['exportgate']['p99_ms']} ms vs "
                f"{b2['none']['p99_ms']} ms; with the opt-in stamp "
                f"{b2.get('exportgate-stamp', {}).get('p99_vs_none')}x; no-op webhook "
                f"{b2.get('noop-validating', {}).get('p99_vs_none')}x one phase, "
                f"{b2.get('noop-webhook', {}).get('p99_vs_none')}x two; CEL policy "
                f"{b2.get('cel', {}).get('p99_vs_none')}x)",
                f"{b2_compare.verdict(ratio, interval, 1.25)} (1.25x); "
                f"{b2_compare.verdict(ratio, interval, 1.5)} (issue 16's 1.5x)",
            )
        )
    rows += report_b2.paired_none_rows(b2_results)
    rows += report_b2.target_rows(b2_results)
    b3 = results.get("b3", {})
    if "grpc_uncached_ms" in b3:
        p99 = b3["grpc_uncached_ms"]["p99"]
        rows.append(
            (
                "B3 uncached decision p99 incl. gRPC hop",
                "<= 3 ms",
                f"{p99} ms (p50 {b3['grpc_uncached_ms']['p50']} ms); same-run baselines: "
                f"no-op Status RPC p99 {b3.get('grpc_status_ms', {}).get('p99')} ms, "
                f"bare fsync p99 {b3.get('fsync_baseline_ms', {}).get('p99')} ms",
                _verdict(p99 <= 3.0),
            )
        )
    embedded = b3.get("embedded_uncached_ms")
    if embedded:
        rows.append(
            (
                "B3 uncached decision p99, service embedded (the default shape: no hop)",
                "<= 3 ms",
                f"{embedded['p99']} ms (p50 {embedded['p50']} ms, "
                f"{embedded['cpu_ms_per_decision']} CPU ms per decision)",
                _verdict(embedded["p99"] <= 3.0),
            )
        )
    b4 = results.get("b4", {})
    if "reaudit_core" in b4:
        secs = b4["reaudit_core"]["extrapolated_100k_s"]
        rows.append(
            (
                "B4 re-audit of 100k objects (core)",
                "<= 60 s",
                f"{secs} s ({b4['reaudit_core']['per_s']}/s over {b4['reaudit_core']['objects']} "
                "objects)",
                _verdict(secs <= 60),
            )
        )
    op = b4.get("reaudit_operator")
    if op:
        secs = op["extrapolated_100k_s"]
        rows.append(
            (
                "B4 re-audit of 100k objects (operator path, with decision log)",
                "<= 60 s",
                f"{secs} s (evaluate {op['evaluate_s']} s + decision log {op['decision_log_s']} s "
                f"for {op['objects']} objects; API list/patch not included)",
                _verdict(secs <= 60),
            )
        )
    if "memory" in b4:
        m = b4["memory"]
        other = m.get("sidecar_shape")
        also = f"; sidecar shape {other['peak_total_mib']} MiB ({_peaks(other)})" if other else ""
        rows.append(
            (
                f"B4 peak RSS of the admission path (default shape: service embedded in the "
                f"webhook), {m['tenants']} tenants / {m['policies']} policies",
                "<= 200 MiB",
                f"{m['peak_total_mib']} MiB ({_peaks(m)}){also}",
                _verdict(m["peak_total_mib"] <= 200),
            )
        )
    return rows


def _peaks(memory: dict[str, Any]) -> str:
    """Each process's peak RSS, e.g. "webhook 150.2" or "sidecar 113.4, webhook 86.6"."""
    return ", ".join(f"{name} {r['VmHWM']}" for name, r in sorted(memory["after_load_mib"].items()))


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(str(c) for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _b1_section(b1: dict[str, Any]) -> str:
    rows = []
    for mode in ("noop", "cached", "uncached", "uncached-sidecar"):
        for r in b1.get(mode, []):
            rows.append(
                [
                    mode,
                    r["concurrency"],
                    r["throughput_rps"],
                    r["p50_ms"],
                    r["p99_ms"],
                    r["p999_ms"],
                    r.get("vs_noop", "1.0 (baseline)"),
                    r.get("server_cpu_ms_per_review", ""),
                    _kv(r.get("cpu_split_ms", {})),
                    r["requests"],
                    r["failures"],
                ]
            )
    cfg = b1.get("config", {})
    return (
        f"Each point: {cfg.get('duration_s')} s of load after {cfg.get('warmup_s')} s warm-up, "
        f"best of {cfg.get('rounds', 1)} interleaved rounds, POST /validate, the MIX of "
        "bench/reviews.py (a third guarded). Server CPU is user+system time of the server "
        "processes (all threads) from /proc, per review sent.\n\n"
        + _table(
            [
                "webhook",
                "concurrency",
                "reviews/s",
                "p50 ms",
                "p99 ms",
                "p99.9 ms",
                "throughput vs no-op",
                "server CPU ms/review",
                "CPU split ms",
                "requests",
                "failures",
            ],
            rows,
        )
    )


def _kv(d: dict[str, Any]) -> str:
    return ", ".join(f"{k} {v}" for k, v in d.items())


def markdown(results: dict[str, Any], notes: list[str]) -> str:
    env = results["environment"]
    out = [
        "# exportgate benchmark results",
        "",
        "Written by `python -m bench` (`make bench`); see docs/benchmarks.md for what each figure "
        "means and how it is measured. Every ratio is against a baseline measured in the same "
        "run on the same machine.",
        "",
        _table(["", ""], [[k, v] for k, v in env.items()] + [["mode", results["mode"]]]),
        "",
    ]
    if results.get("runs"):
        out += [
            "The figures below come from these runs on the same machine; each step's figures "
            "are from the last run that measured it:",
            "",
            _table(
                [
                    "steps measured",
                    "figures used here",
                    "date",
                    "commit",
                    "mode",
                    "load average at start",
                ],
                [
                    [
                        ", ".join(r["steps"]),
                        ", ".join(r.get("used", r["steps"])) or "none (superseded)",
                        r["date"],
                        r["commit"],
                        r["mode"],
                        r["load_average_at_start"],
                    ]
                    for r in results["runs"]
                ],
            ),
            "",
        ]
    out += [
        "## Targets (issue 7)",
        "",
        _table(["figure", "target", "measured", "verdict"], [list(r) for r in targets(results)]),
        "",
    ]
    if notes:
        out += ["Notes on the gaps:", ""] + [f"- {n}" for n in notes] + [""]
    if "b1" in results:
        out += [
            "## B1 exportgate's webhook over TLS (embedded; sidecar shape) vs no-op webhook",
            "",
            _b1_section(results["b1"]),
            "",
        ]
    if "b2" in results:
        out += [
            "## B2 Pod CREATE through the real API server, with Gatekeeper and Kyverno",
            "",
            report_b2.section(results["b2"]),
        ]
    if "b3" in results:
        b3 = results["b3"]
        out += [
            "## B3 decision latency and core throughput",
            "",
            "- Uncached Evaluate over the Unix socket, one item per call (ms): "
            + _kv(b3["grpc_uncached_ms"]),
            "- The same questions asked of the embedded service in-process (ms; CPU per "
            "decision of the whole process): " + _kv(b3.get("embedded_uncached_ms", {})),
            "- Baseline, same run: the no-op Status RPC on the same channel, interleaved (ms): "
            + _kv(b3.get("grpc_status_ms", {})),
            "- Baseline, same run, same filesystem: append 1.5 KB + fsync (ms): "
            + _kv(b3.get("fsync_baseline_ms", {})),
            f"- In-process `PolicyEngine.evaluate`: {b3['core']['evaluate_per_s']}/s "
            f"({b3['core']['evaluate_us']} us each); extraction {b3['core']['extract_per_s']}/s "
            f"({b3['core']['extract_us']} us each); one core, {b3['core']['objects']} guarded "
            "objects.",
            "",
        ]
    if "b4" in results:
        b4 = results["b4"]
        out += [
            "## B4 re-audit and memory at scale",
            "",
            f"- Re-audit through the core: {_kv(b4['reaudit_core'])}",
        ]
        op = b4.get("reaudit_operator")
        out.append(
            f"- Re-audit through the operator: {_kv(op)}"
            if op
            else "- Re-audit through the operator: not measured "
            "(operator/exportgate_operator has no "
            "re-audit function yet)"
        )
        if "memory" in b4:
            m = b4["memory"]
            for shape in (m, m.get("sidecar_shape")):
                if not shape:
                    continue
                out.append(
                    f"- Memory, {shape.get('shape', 'sidecar')} shape, with {m['tenants']} "
                    f"tenants and {m['policies']} policies: ready after "
                    f"{shape['startup_to_ready_s']} s; idle {shape['idle_mib']}; after "
                    f"{shape['load_requests']} guarded reviews ({shape['load_failures']} failed) "
                    f"{shape['after_load_mib']} (MiB)"
                )
        out.append("")
    if "profile" in results:
        out += [
            "## Profile of the hot path (cProfile, uncached guarded load, service embedded)",
            "",
        ]
        proc = results["profile"]["processes"]
        out.append(
            f"{proc['requests']} reviews at {proc['throughput_rps']}/s under the profiler.\n"
        )
        for name in ("exportgate-webhook", "exportgate-sidecar"):
            if name not in proc:  # the default shape has no sidecar process
                continue
            p = proc[name]
            if "error" in p:
                out += [f"- {name}: {p['error']}"]
                continue
            shares = {k: v for k, v in p["inclusive_pct"].items() if v > 0}
            out += [
                f"**{name}**: main thread busy {p.get('busy_s')} s, idle in epoll "
                f"{p.get('idle_pct')}% of the time. Inclusive share of the busy time (%): "
                f"{_kv(shares)}",
                "",
            ]
            out += [
                _table(
                    ["function (own time)", "calls", "own %"],
                    [[r["function"], r["calls"], r["own_pct"]] for r in p["top_own_time"][:8]],
                ),
                "",
            ]
        core = results["profile"]["core"]
        out += [f"**core** (extract + evaluate, {core['objects']} objects):", ""]
        out += [
            _table(
                ["function (own time)", "calls", "own %"],
                [[r["function"], r["calls"], r["own_pct"]] for r in core["top_own_time"][:8]],
            ),
            "",
        ]
    if "faults" in results:
        out += ["## Fault tests", "", fault_section(results["faults"]), ""]
    return "\n".join(out) + "\n"


def fault_section(faults: dict[str, Any]) -> str:
    if "error" in faults:
        return f"Not run: {faults['error']}"
    rows = [
        [
            name,
            f.get("outcome", "?"),
            f.get("cases", ""),
            f.get("requests", ""),
            f.get("failures", ""),
            f.get("detail", ""),
        ]
        for name, f in sorted(faults.get("scenarios", {}).items())
    ]
    head = (
        f"`pytest tests/faults` exit status {faults.get('exit_code')}; "
        f"{faults.get('summary', '')}\n\n"
    )
    for line in faults.get("failed", []):
        head += f"- {line[:300]}\n"
    if faults.get("failed"):
        head += "\n"
    return head + _table(["scenario", "outcome", "cases", "requests", "failures", "detail"], rows)


def console(results: dict[str, Any]) -> str:
    width = [46, 20, 70, 8]
    lines = [
        "figure".ljust(width[0]) + "target".ljust(width[1]) + "measured".ljust(width[2]) + "verdict"
    ]
    for row in targets(results):
        lines.append("".join(str(c)[: w - 1].ljust(w) for c, w in zip(row, width, strict=True)))
    return "\n".join(lines)
