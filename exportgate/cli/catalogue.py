"""`exportgate catalogue`: what exportgate knows about accelerators, and how it classified them."""

from __future__ import annotations

import argparse
import json
from typing import Any

from exportgate.core.catalogue import builtin_catalogue


def register(subcommands: Any) -> None:
    parser = subcommands.add_parser(
        "catalogue",
        help="list accelerator products with their computed TPP, PD and export classification",
        description="List the accelerator catalogue: specs, computed TPP / PD and classification.",
    )
    parser.add_argument("-o", "--output", choices=["text", "json"], default="text")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    catalogue = builtin_catalogue()
    rows = []
    for product in catalogue.products.values():
        c = product.classification
        rows.append(
            {
                "id": product.id,
                "name": product.name,
                "vendor": product.vendor,
                "tpp": round(c.tpp, 1),
                "pd": round(c.pd, 2) if c.pd is not None else None,
                "dieAreaEstimated": product.specs.die_area_estimated,
                "classification": c.eccn,
                "paragraph": c.paragraph,
                "reason": c.reason,
                "citation": product.citation,
                "aliases": list(product.aliases),
            }
        )
    if args.output == "json":
        print(json.dumps({"version": catalogue.version, "products": rows}, indent=2))
        return 0
    print(f"{'PRODUCT':20} {'TPP':>9} {'PD':>7}  {'CLASS':21} NAME")
    for row in rows:
        pd = f"{row['pd']:.2f}" if row["pd"] is not None else "?"
        if row["dieAreaEstimated"]:
            pd = "~" + pd
        print(f"{row['id']:20} {row['tpp']:>9g} {pd:>7}  {row['classification']:21} {row['name']}")
    return 0
