"""Every dated fact exportgate decides with, as rows: rules, group memberships, licence lanes,
and the classification items (3A090 bounds) they rest on.

One home for how the facts are shown, used by `exportgate catalogue
rules|groups|lanes|classification` and by
the generated tables in docs/policies.md (a test keeps the two equal). Each row carries its
dates, its source, its confidence and, for an unverified fact, the default chosen and why.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import date
from typing import Any

from exportgate.core.countries import CountryGroups, builtin_country_groups
from exportgate.core.data import load_data
from exportgate.core.licensing import builtin_lanes
from exportgate.core.policy import PolicyDocument, builtin_packs
from exportgate.core.rules import BASIS_TEXT


def _day(value: date | None, *, always: bool = False) -> str | None:
    if always:
        return "always"
    return value.isoformat() if value is not None else None


def rule_rows(packs: Iterable[PolicyDocument] | None = None) -> list[dict[str, Any]]:
    rows = []
    for pack in packs if packs is not None else builtin_packs().values():
        for rule in pack.rules:
            provenance = rule.provenance
            rows.append(
                {
                    "pack": pack.name,
                    "rule": rule.id,
                    "title": rule.title,
                    "from": _day(rule.effective, always=provenance.always),
                    "until": _day(rule.until),
                    "suspended": [
                        {
                            "from": s.since.isoformat(),
                            "until": s.until.isoformat(),
                            "citation": s.citation,
                        }
                        for s in rule.suspensions
                    ],
                    "notEnforcedSince": _day(pack.not_enforced_since),
                    "packStatus": pack.status or None,
                    "enabledByDefault": pack.enabled_by_default,
                    "basis": provenance.basis or None,
                    "basisText": BASIS_TEXT.get(provenance.basis),
                    "confidence": provenance.confidence or None,
                    "status": provenance.status or None,
                    "note": provenance.note or None,
                    "citation": rule.citation,
                }
            )
    return rows


def membership_rows(groups: CountryGroups | None = None) -> list[dict[str, Any]]:
    """Dated or annotated memberships, open questions, and one row per whole group."""
    groups = groups or builtin_country_groups()
    rows: list[dict[str, Any]] = []
    for group in groups.groups.values():
        plain = sorted(m.country for m in group.memberships if m.fact.citation == group.citation)
        rows.append(
            {
                "group": group.name,
                "country": ", ".join(plain) if len(plain) <= 40 else f"{len(plain)} places",
                "member": True,
                "from": None,
                "until": None,
                "confidence": group.confidence,
                "status": group.status or None,
                "note": group.note or None,
                "citation": group.citation,
            }
        )
        for membership in group.memberships:
            fact = membership.fact
            if fact.citation == group.citation and not fact.note:
                continue
            rows.append(
                {
                    "group": group.name,
                    "country": membership.country,
                    "member": True,
                    "from": _day(fact.since),
                    "until": _day(fact.until),
                    "confidence": fact.confidence,
                    "status": fact.status or None,
                    "note": fact.note or None,
                    "citation": fact.citation,
                }
            )
        for country, confidence, note in group.verify:
            rows.append(
                {
                    "group": group.name,
                    "country": country,
                    "member": False,
                    "from": None,
                    "until": None,
                    "confidence": confidence,
                    "status": "unverified",
                    "note": note,
                    "citation": "regulation-2026.md, still to verify",
                }
            )
    for code, rule in groups.normalisations.items():
        rows.append(
            {
                "group": f"normalise {code} -> {rule.to}",
                "country": code,
                "member": True,
                "from": _day(rule.fact.since),
                "until": _day(rule.fact.until),
                "confidence": rule.fact.confidence,
                "status": rule.fact.status or None,
                "note": rule.fact.note or None,
                "citation": rule.fact.citation,
            }
        )
    return rows


def lane_rows() -> list[dict[str, Any]]:
    return [
        {
            "lane": lane.id,
            "title": lane.title,
            "from": lane.since.isoformat(),
            "until": _day(lane.until),
            "noLicenceRoute": lane.none,
            "confidence": lane.confidence,
            "note": lane.note or None,
            "citation": lane.citation,
        }
        for lane in builtin_lanes()
    ]


def _bounds(when: dict[str, Any]) -> str:
    """`{tpp: {min: 2400, below: 4800}}` as "2400 <= TPP < 4800"."""
    parts = []
    for metric, bound in when.items():
        text = metric.upper()
        if bound.get("min") is not None:
            text = f"{bound['min']:g} <= {text}"
        if bound.get("below") is not None:
            text += f" < {bound['below']:g}"
        parts.append(text)
    return " and ".join(parts)


def classification_rows() -> list[dict[str, Any]]:
    """The 3A090 items of classification.yaml: the chip bounds the classifier applies, then the
    items it records but does not evaluate (3A090.c, high-bandwidth memory)."""
    data = load_data("classification.yaml")
    rows = []
    for evaluated, items in ((True, data["items"]), (False, data.get("memoryItems") or ())):
        for item in items:
            rows.append(
                {
                    "item": str(item["sub"]),
                    "class": str(item["id"]),
                    "condition": _bounds(item["when"]) if evaluated else str(item["condition"]),
                    "evaluated": evaluated,
                    "from": item.get("from"),
                    "until": item.get("until"),
                    "confidence": item.get("confidence"),
                    "status": item.get("status"),
                    "note": item.get("note"),
                    "citation": str(item["citation"]),
                }
            )
    return rows


def _cell(value: Any) -> str:
    if value is None or value == "" or value == []:
        return ""
    return str(value).replace("|", "\\|")


def _status(row: dict[str, Any]) -> str:
    if row["status"]:
        return f"**{row['status']}**: {row['note'] or ''}".strip()
    return row["note"] or ""


def _dates(row: dict[str, Any]) -> str:
    text = f"{row['from'] or '…'} → {row['until'] or '…'}"
    for window in row.get("suspended") or ():
        text += f"; suspended {window['from']} → {window['until']}"
    if row.get("notEnforcedSince"):
        text += f"; pack not enforced from {row['notEnforcedSince']}"
    return text


def markdown() -> str:
    """The generated fact tables of docs/policies.md (between its BEGIN/END markers)."""
    lines = [
        "#### Rules",
        "",
        "| pack | rule | in force (from → until) | basis | conf. | status / default | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in rule_rows():
        status = _status(row)
        lines.append(
            f"| `{row['pack']}` | `{row['rule']}` | {_cell(_dates(row))} | {_cell(row['basis'])} "
            f"| {_cell(row['confidence'])} | {_cell(status)} | {_cell(row['citation'])} |"
        )
    lines += [
        "",
        "#### Country-group memberships",
        "",
        "| group | country | member | from → until | conf. | status / default | source |",
        "|---|---|---|---|---|---|---|",
    ]
    for row in membership_rows():
        status = _status(row)
        member = "yes" if row["member"] else "no"
        lines.append(
            f"| {_cell(row['group'])} | {_cell(row['country'])} | {member} "
            f"| {_cell(_dates(row))} | {_cell(row['confidence'])} | {_cell(status)} "
            f"| {_cell(row['citation'])} |"
        )
    lines += [
        "",
        "#### Licence lanes",
        "",
        "| lane | review | from → until | conf. | note | source |",
        "|---|---|---|---|---|---|",
    ]
    for row in lane_rows():
        title = row["title"] + (" (no licence route)" if row["noLicenceRoute"] else "")
        lines.append(
            f"| `{row['lane']}` | {_cell(title)} | {_cell(_dates(row))} "
            f"| {_cell(row['confidence'])} | {_cell(row['note'])} | {_cell(row['citation'])} |"
        )
    lines += [
        "",
        "#### Classification items (3A090)",
        "",
        "| item | condition | evaluated | from → until | conf. | source |",
        "|---|---|---|---|---|---|",
    ]
    for row in classification_rows():
        evaluated = "yes" if row["evaluated"] else "no (recorded only)"
        lines.append(
            f"| {_cell(row['item'])} | {_cell(row['condition'])} | {evaluated} "
            f"| {_cell(_dates(row))} | {_cell(row['confidence'])} | {_cell(row['citation'])} |"
        )
    return "\n".join(lines) + "\n"
