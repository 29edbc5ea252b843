"""`exportgate catalogue`: what exportgate knows, how it classified it, and since when.

`exportgate catalogue` (or `catalogue products`) lists accelerators with their computed TPP, PD,
bandwidth and classification; `rules`, `groups`, `lanes` and `classification` (the 3A090 items)
list every dated fact policies use,
with its dates, source, confidence and, for an unverified fact, the default chosen and why;
`markdown` prints the generated tables of docs/policies.md.
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from datetime import date
from typing import Any

from exportgate.core.catalogue import builtin_catalogue
from exportgate.core.facts import (
    classification_rows,
    lane_rows,
    markdown,
    membership_rows,
    rule_rows,
)
from exportgate.core.licensing import lane_for
from exportgate.core.types import Jurisdiction, JurisdictionRole

VIEWS = ("products", "rules", "groups", "lanes", "classification", "markdown")
# The lane a company located in China would face today (the products view's chinaLicenceLane).
CHINA = Jurisdiction("CN", JurisdictionRole.HEADQUARTERS)


def register(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "catalogue",
        help=(
            "list accelerator products, rules, country groups, licence lanes and 3A090 items "
            "with their dates"
        ),
        description=(
            "List the accelerator catalogue (specs, computed TPP / PD, bandwidth, classification), "
            "or every dated fact policies use: rules, country-group memberships, licence lanes, "
            "3A090 classification items."
        ),
    )
    parser.add_argument("view", nargs="?", choices=VIEWS, default="products")
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    if args.view == "markdown":
        print(markdown(), end="")
        return 0
    if args.view == "products":
        return _products(args.output)
    views: dict[str, Callable[[], list[dict[str, Any]]]] = {
        "rules": rule_rows,
        "groups": membership_rows,
        "lanes": lane_rows,
        "classification": classification_rows,
    }
    rows = views[args.view]()
    if args.output == "json":
        print(json.dumps({args.view: rows}, indent=2))
        return 0
    for row in rows:
        head = (
            row.get("rule")
            or row.get("lane")
            or (f"{row['item']}: {row['condition']}" if "item" in row else None)
            or f"{row['group']} {row['country']}"
        )
        pack = f"{row['pack']}/" if "pack" in row else ""
        dates = f"{row['from'] or '…'} → {row['until'] or '…'}"
        for window in row.get("suspended") or ():
            dates += f", suspended {window['from']} → {window['until']}"
        if row.get("notEnforcedSince"):
            dates += f", not enforced from {row['notEnforcedSince']}"
        member = "" if row.get("member", True) else " (NOT a member)"
        print(f"{pack}{head}{member}  [{dates}]  conf. {row.get('confidence') or '?'}")
        if row.get("status"):
            print(f"    {row['status'].upper()}: {row.get('note') or ''}")
        elif row.get("note"):
            print(f"    note: {row['note']}")
        print(f"    source: {row['citation']}")
    return 0


def _products(output: str) -> int:
    catalogue = builtin_catalogue()
    today = date.today()
    rows = []
    for product in catalogue.products.values():
        c = product.classification
        china = lane_for(product, c.eccn, CHINA, today)
        rows.append(
            {
                "id": product.id,
                "name": product.name,
                "vendor": product.vendor,
                "tpp": round(c.tpp, 1),
                "pd": round(c.pd, 2) if c.pd is not None else None,
                "dieAreaEstimated": product.specs.die_area_estimated,
                "memoryBandwidthGBs": product.memory_bandwidth_gbs,
                "interconnectGBs": product.interconnect_gbs,
                "bandwidthCitation": product.bandwidth_citation,
                "classification": c.eccn,
                "paragraph": c.paragraph,
                "reason": c.reason,
                "chinaLicenceLane": china.id if china else None,
                "confidence": product.confidence,
                # Figures not established or from a single source: shown, never hidden.
                "unverified": bool(product.specs.unpublished) or product.confidence == "L",
                "citation": product.citation,
                "aliases": list(product.aliases),
            }
        )
    if output == "json":
        print(json.dumps({"version": catalogue.version, "products": rows}, indent=2))
        return 0
    print(f"{'PRODUCT':20} {'TPP':>9} {'PD':>7} {'MEM GB/s':>9} {'IC GB/s':>8}  {'CLASS':21} NAME")
    for row in rows:
        pd = f"{row['pd']:.2f}" if row["pd"] is not None else "?"
        if row["dieAreaEstimated"]:
            pd = "~" + pd
        memory = f"{row['memoryBandwidthGBs']:g}" if row["memoryBandwidthGBs"] else "?"
        link = f"{row['interconnectGBs']:g}" if row["interconnectGBs"] else "?"
        print(
            f"{row['id']:20} {row['tpp']:>9g} {pd:>7} {memory:>9} {link:>8}  "
            f"{row['classification']:21} {row['name']}"
            + ("  [unverified figures]" if row["unverified"] else "")
        )
    return 0
