"""`exportgate audit report` and `exportgate audit explain` (registered by `cli.audit`).

Contract (extend, never break):
    exportgate audit report [--since T] [--until T] [--html F] [--csv F] [--json F]
                            [--title TEXT] LOG...
    exportgate audit explain [--snapshots DIR]... [--policy FILE]... [-o text|json] ID LOG...
report exit codes: 0 every file intact (or recovered), 1 a file is torn, tampered, missing
segments or unreadable (the report is still written, saying so), 2 bad input.
explain exit codes: 0 the replay is identical, 1 it differs (or the record's file does not
verify), 2 bad input or no decision with that id, 3 the record cannot be replayed (no inputs or
no snapshot: written before snapshots were kept), the reason is printed.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from exportgate.audit.collect import collect, write_csv, write_json
from exportgate.audit.explain import difference_lines, explain, find
from exportgate.audit.replay import snapshot_directories
from exportgate.core.engine import PolicyEngine
from exportgate.core.errors import ExportgateError
from exportgate.core.policy import load_policy_file
from exportgate.decisionlog.query import parse_bound

EXIT_OK = 0
EXIT_DIFFERS = 1
EXIT_BAD_INPUT = 2
EXIT_NOT_REPLAYABLE = 3


def register(commands: Any) -> None:
    report = commands.add_parser(
        "report",
        help="verify many logs and write one report (HTML, CSV, JSON) over them",
        description=(
            "Verify every log given (replicas, rotated segments, the operator's, several "
            "clusters) and say which file is intact, torn, tampered or missing segments; then "
            "merge their decisions by time for the period and write a self-contained HTML "
            "report with charts and sortable tables, a CSV with one row per decision "
            "(columns in docs/cli.md) and/or JSON. Exit 1 when a file is not intact."
        ),
    )
    report.add_argument("files", nargs="+", metavar="LOG", help="decision log files")
    report.add_argument("--since", metavar="TIME", help="from this time on (inclusive)")
    report.add_argument("--until", metavar="TIME", help="before this time (exclusive)")
    report.add_argument("--html", metavar="FILE", help="write the HTML report here")
    report.add_argument("--csv", metavar="FILE", help="write the CSV here ('-': stdout)")
    report.add_argument("--json", metavar="FILE", help="write the JSON here ('-': stdout)")
    report.add_argument("--title", default="exportgate decision log audit")
    report.set_defaults(func=run_report)

    explain_parser = commands.add_parser(
        "explain",
        help="one decision in words, replayed with the policy of its time",
        description=(
            "Find the decision by id in the logs, say in words who asked for what, for which "
            "tenant record and verification state, which rule decided and its citation; then "
            "evaluate it again from its logged inputs at its logged time with the policy "
            "snapshot kept beside the log. Exit 0 identical, 1 differs, 3 cannot replay."
        ),
    )
    explain_parser.add_argument("decision_id", metavar="DECISION_ID")
    explain_parser.add_argument("files", nargs="+", metavar="LOG", help="decision log files")
    explain_parser.add_argument(
        "--snapshots",
        action="append",
        default=[],
        metavar="DIR",
        help="where policy snapshots are (default: snapshots/ beside each log)",
    )
    explain_parser.add_argument(
        "--policy",
        action="append",
        default=[],
        metavar="FILE",
        help="ExportPolicy files that, with this exportgate's built-in packs and data, are "
        "'today's policy' to compare with",
    )
    explain_parser.add_argument("-o", "--output", choices=["text", "json"], default="text")
    explain_parser.set_defaults(func=run_explain)


def _error(command: str, message: str) -> int:
    print(f"exportgate audit {command}: error: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def run_report(args: argparse.Namespace) -> int:
    if not (args.html or args.csv or args.json):
        return _error("report", "say what to write: --html FILE, --csv FILE and/or --json FILE")
    try:
        since = parse_bound(args.since) if args.since else None
        until = parse_bound(args.until) if args.until else None
    except ValueError as exc:
        return _error("report", str(exc))
    collected = collect(args.files, since=since, until=until)
    try:
        for status in collected.files:
            print(f"{status.path}: {status.status}: {status.text}", file=sys.stderr)
        if args.csv:
            _write(args.csv, lambda out: write_csv(collected, out))
        if args.json:
            _write(args.json, lambda out: write_json(collected, out))
        if args.html:
            from plotly.offline import get_plotlyjs  # type: ignore[import-untyped]  # only the HTML needs the 4 MB library

            from exportgate.audit.page import write_html

            _write(
                args.html,
                lambda out: write_html(collected, out, title=args.title, plotly_js=get_plotlyjs()),
            )
    except OSError as exc:
        return _error("report", f"cannot write: {exc.strerror or exc}")
    finally:
        collected.close()
    figures = collected.figures
    print(
        f"{figures.total} decisions ({', '.join(f'{a} {n}' for a, n in sorted(figures.by_action.items())) or 'none'}) "  # noqa: E501
        f"from {len(collected.files)} files; "
        + ("all intact" if collected.ok else "NOT ALL FILES ARE INTACT (see above)"),
        file=sys.stderr,
    )
    return EXIT_OK if collected.ok else EXIT_DIFFERS


def _write(target: str, writer: Any) -> None:
    if target == "-":
        writer(sys.stdout)
        return
    with open(target, "w", encoding="utf-8", newline="") as out:
        writer(out)


def _today_engine(policy_files: list[str]) -> PolicyEngine:
    policies = [p for path in policy_files for p in load_policy_file(path)]
    return PolicyEngine.build(policies=policies)


def run_explain(args: argparse.Namespace) -> int:
    try:
        today = _today_engine(args.policy)
    except (ExportgateError, OSError) as exc:
        return _error("explain", str(exc))
    found = find(args.decision_id, args.files)
    if found.record is None:
        unreadable = [f"{f.path}: {f.text}" for f in found.files if f.status == "unreadable"]
        return _error(
            "explain",
            f"no decision with id {args.decision_id} in the verified part of these logs"
            + (f" ({'; '.join(unreadable)})" if unreadable else ""),
        )
    directories = snapshot_directories(args.files, args.snapshots)
    result = explain(found, directories, today)
    status = found.status
    trusted = status is not None and status.ok
    if args.output == "json":
        data = {
            "id": args.decision_id,
            "file": found.path,
            "line": found.line,
            "fileStatus": status.to_dict() if status else None,
            "record": found.record,
            "words": result.lines,
            "replay": _replay_json(result.replay, result.unavailable),
            "today": _replay_json(result.today, None) if result.today else None,
        }
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        _print_explanation(found, result, trusted)
    if result.unavailable is not None:
        return EXIT_NOT_REPLAYABLE
    assert result.replay is not None
    return EXIT_OK if result.replay.same and trusted else EXIT_DIFFERS


def _replay_json(replay: Any, unavailable: str | None) -> dict[str, Any]:
    if replay is None:
        return {"possible": False, "reason": unavailable}
    return {
        "possible": True,
        "same": replay.same,
        "caveats": list(replay.caveats),
        "differences": [
            {"field": key, "logged": logged, "replayed": now}
            for key, logged, now in replay.differences
        ],
    }


def _print_explanation(found: Any, result: Any, trusted: bool) -> None:
    status = found.status
    print(f"{found.path}:{found.line}: file is {status.status if status else 'unknown'}")
    if not trusted:
        print(f"WARNING: this file does not verify ({status.text if status else ''}); "
              "the record's words cannot be trusted.")  # fmt: skip
    for line in result.lines:
        print(line)
    print()
    if result.unavailable is not None:
        print(f"Replay: NOT POSSIBLE: {result.unavailable}")
        return
    for caveat in result.replay.caveats:
        print(f"Note: {caveat}.")
    if result.replay.same:
        print(
            "Replay with the policy of that time (from its snapshot): IDENTICAL: the same "
            "action, rule, citation, message, violations and resolved inputs."
        )
    else:
        print("Replay with the policy of that time (from its snapshot): DIFFERS:")
        for line in difference_lines(result.replay):
            print(line)
    today = result.today
    if today is not None:
        changed = [d for d in today.differences if d[0] != "policyVersions"]
        if not changed:
            print(
                "With today's policy (this exportgate's packs and data, plus any --policy "
                "files): the same outcome."
            )
        else:
            print(
                "With today's policy (this exportgate's packs and data, plus any --policy "
                "files) it would come out differently; the decision stands as taken under the "
                "policy of its time:"
            )
            for line in difference_lines(type(today)(False, changed)):
                print(line)
