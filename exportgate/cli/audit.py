"""`exportgate audit`: verify decision logs and answer auditors' questions from them.

Contract (other tools call it like this; extend, never break):
    exportgate audit verify [--allow-recovered] [--require-genesis] [-o text|json] FILE...
    exportgate audit query  [filters] [--no-verify] [-o text|json] FILE...
    exportgate audit summary [filters] [--no-verify] [-o text|json] FILE...
    exportgate audit report / explain: see `exportgate.cli.audit_report`.
filters: --tenant T --action A --rule R --user U (each repeatable), --object SUBSTR,
         --since TIME (inclusive), --until TIME (exclusive); TIME is RFC 3339 or a date (UTC).
Exit codes: 0 intact / answered, 1 a chain is broken (tampered, truncated, torn), 2 bad input
(a file cannot be read, a filter cannot be parsed). `verify` names the first bad line of each
file as ``FILE:LINE: reason``.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any, TextIO

from exportgate.cli import audit_report
from exportgate.core.types import Action
from exportgate.decisionlog.query import (
    RecordFilter,
    StoredRecord,
    object_text,
    parse_bound,
    query,
    summarize,
)
from exportgate.decisionlog.verify import FileReport, VerifyResult, verify_files

EXIT_OK = 0
EXIT_BROKEN = 1
EXIT_BAD_INPUT = 2


def register(subparsers: Any) -> None:
    """Add ``audit`` with its subcommands to an argparse subparsers action."""
    audit = subparsers.add_parser(
        "audit",
        help="verify decision logs, query them, report over many, explain and replay one",
        description="Verify the hash chains of decision logs, and answer questions from them.",
    )
    audit.set_defaults(func=lambda args: _usage(audit))
    commands = audit.add_subparsers(dest="audit_command", metavar="SUBCOMMAND")

    verify = commands.add_parser(
        "verify",
        help="check that decision logs are intact",
        description=(
            "Check every record's hash and its link to the record before it, within each file "
            "and across rotated files of the same chain (pass them in any order). Exit 0: "
            "intact; 1: edited, deleted, reordered, torn or otherwise damaged (the first bad "
            "line of each file is named as FILE:LINE: reason); 2: a file cannot be read."
        ),
    )
    verify.add_argument("files", nargs="+", metavar="FILE", help="decision log files")
    verify.add_argument(
        "--allow-recovered",
        action="store_true",
        help="accept damaged lines that a recovery record accounts for (a writer that crashed "
        "mid-write and restarted); they are still listed",
    )
    verify.add_argument(
        "--require-genesis",
        action="store_true",
        help="fail unless each chain's first file (the one starting at seq 1) is supplied",
    )
    verify.add_argument("-o", "--output", choices=["text", "json"], default="text")
    verify.set_defaults(func=run_verify)

    for name, help_text, func in (
        ("query", "list the decisions that match filters", run_query),
        ("summary", "count decisions by action, tenant and rule", run_summary),
    ):
        sub = commands.add_parser(
            name,
            help=help_text,
            description=(
                f"{help_text[0].upper()}{help_text[1:]}. Files are verified first (recovered "
                "crash damage is accepted); a broken chain stops the command with exit 1, "
                "because records of a tampered log cannot be trusted."
            ),
        )
        _add_filters(sub)
        sub.add_argument("-o", "--output", choices=["text", "json"], default="text")
        sub.set_defaults(func=func)

    audit_report.register(commands)


def _add_filters(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("files", nargs="+", metavar="FILE", help="decision log files")
    parser.add_argument("--tenant", action="append", metavar="T", help="tenant (repeatable)")
    parser.add_argument(
        "--action",
        action="append",
        choices=[a.value for a in Action],
        help="decision action (repeatable)",
    )
    parser.add_argument(
        "--rule", action="append", metavar="R", help="rule that matched, deciding or not"
    )
    parser.add_argument("--user", action="append", metavar="U", help="requesting user")
    parser.add_argument(
        "--object", metavar="SUBSTR", help="substring of 'apiVersion Kind/namespace/name'"
    )
    parser.add_argument("--since", metavar="TIME", help="from this time on (inclusive)")
    parser.add_argument("--until", metavar="TIME", help="before this time (exclusive)")
    parser.add_argument(
        "--no-verify", action="store_true", help="skip chain verification (not for audits)"
    )


def _usage(parser: argparse.ArgumentParser) -> int:
    parser.print_help(sys.stderr)
    return EXIT_BAD_INPUT


# --- verify ---------------------------------------------------------------------------------


def run_verify(args: argparse.Namespace) -> int:
    result = verify_files(
        args.files,
        allow_recovered=args.allow_recovered,
        require_genesis=args.require_genesis,
    )
    if args.output == "json":
        json.dump(result.to_dict(), sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
    else:
        print_verify_text(result, sys.stdout)
    return result.exit_code


def print_verify_text(result: VerifyResult, out: TextIO) -> None:
    for report in result.files:
        for line in describe_report(report):
            print(line, file=out)


def describe_report(report: FileReport) -> list[str]:
    path = report.path
    if report.read_error is not None:
        return [f"{path}: {report.read_error}"]
    lines = [f"{path}:{r.lines[0]}: recovered: {r.describe()}" for r in report.recovered]
    lines += [f"{path}: note: {note}" for note in report.notes]
    if report.problem is not None:
        lines.append(f"{path}:{report.problem.line}: {report.problem.reason}")
    elif report.records:
        lines.append(
            f"{path}: ok: {report.records} records (seq {report.first_seq}-{report.last_seq}), "
            f"head {report.head}"
        )
    else:
        lines.append(f"{path}: ok: no records")
    return lines


# --- query and summary ------------------------------------------------------------------------


def _filter_from(args: argparse.Namespace) -> RecordFilter:
    def as_set(values: Sequence[str] | None) -> frozenset[str] | None:
        return frozenset(values) if values else None

    return RecordFilter(
        tenants=as_set(args.tenant),
        actions=as_set(args.action),
        rules=as_set(args.rule),
        users=as_set(args.user),
        object_contains=args.object,
        since=parse_bound(args.since) if args.since else None,
        until=parse_bound(args.until) if args.until else None,
    )


def _prepare(args: argparse.Namespace, command: str) -> tuple[RecordFilter | None, int]:
    """The filter, or None and the exit code when the command must stop."""
    try:
        record_filter = _filter_from(args)
    except ValueError as exc:
        print(f"exportgate audit {command}: error: {exc}", file=sys.stderr)
        return None, EXIT_BAD_INPUT
    if args.no_verify:
        return record_filter, EXIT_OK
    result = verify_files(args.files, allow_recovered=True)
    if not result.ok:
        for report in result.files:
            if not report.ok:
                for line in describe_report(report):
                    print(line, file=sys.stderr)
        print(
            f"exportgate audit {command}: stopped: the logs above do not verify, so their "
            "records cannot be trusted (--no-verify reads them anyway)",
            file=sys.stderr,
        )
        return None, result.exit_code
    return record_filter, EXIT_OK


def run_query(args: argparse.Namespace) -> int:
    record_filter, code = _prepare(args, "query")
    if record_filter is None:
        return code
    count = 0
    try:
        for stored in query(args.files, record_filter):
            count += 1
            if args.output == "json":
                # Exactly the stored bytes, so the output can be re-verified and re-hashed.
                sys.stdout.write(stored.raw.decode("utf-8") + "\n")
            else:
                print(format_record(stored))
    except OSError as exc:
        print(f"exportgate audit query: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    if args.output == "text":
        print(f"{count} matching decision(s)", file=sys.stderr)
    return EXIT_OK


def format_record(stored: StoredRecord) -> str:
    record = stored.record

    def text(key: str) -> str:
        value = record.get(key)
        return str(value) if value not in (None, "") else "-"

    return "  ".join(
        [
            text("time"),
            f"{text('action'):<6}",
            text("tenant"),
            object_text(record) or "-",
            text("rule"),
            f"user={text('user')}",
            f"id={text('id')}",
            f"({stored.path}:{stored.line})",
        ]
    )


def run_summary(args: argparse.Namespace) -> int:
    record_filter, code = _prepare(args, "summary")
    if record_filter is None:
        return code
    try:
        summary = summarize(query(args.files, record_filter))
    except OSError as exc:
        print(f"exportgate audit summary: error: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    data = summary.to_dict()
    if args.output == "json":
        json.dump(data, sys.stdout, indent=2, ensure_ascii=False)
        sys.stdout.write("\n")
        return EXIT_OK
    period = f" from {summary.first_time} to {summary.last_time}" if summary.first_time else ""
    print(f"decisions: {summary.total}{period}")
    print("by action:")
    for action, count in data["byAction"].items():
        print(f"  {action:<8} {count}")
    print("by tenant:")
    for tenant, counts in data["byTenant"].items():
        detail = "  ".join(f"{k} {v}" for k, v in counts.items() if k != "total")
        print(f"  {tenant:<24} {counts['total']:>8}  {detail}")
    print("by deciding rule:")
    for rule, count in data["byRule"].items():
        print(f"  {rule:<40} {count}")
    return EXIT_OK
