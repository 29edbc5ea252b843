"""One decision record as one flat row: the CSV columns of `exportgate audit report`.

The columns are a contract for other tools (docs/cli.md, "audit report: CSV columns"): add
columns at the end, never rename or reorder them. Lists are joined with ``;``; a line break
inside a text becomes a space, so every decision is one line.
"""

from __future__ import annotations

from typing import Any, Final

from exportgate.decisionlog.record import UNKNOWN_CLUSTER

COLUMNS: Final = (
    "time",
    "id",
    "cluster",
    "component",
    "action",
    "tenant",
    "user",
    "operation",
    "apiVersion",
    "kind",
    "namespace",
    "name",
    "rule",
    "citation",
    "verification",
    "verificationRef",
    "countries",
    "products",
    "acceleratorClasses",
    "models",
    "modelVendors",
    "policyVersion",
    "replayable",
    "file",
    "line",
    "message",
)

NONE: Final = "(none)"


def _join(values: list[str]) -> str:
    if not values:
        return ""
    if len(values) == 1:
        return values[0]
    return ";".join(dict.fromkeys(values))


def _text(value: Any) -> str:
    if value is None:
        return ""
    text = str(value)
    if "\n" in text or "\r" in text:  # one line per decision, in the CSV and its spills
        text = " ".join(text.splitlines())
    return text


def accelerator_classes(record: dict[str, Any]) -> list[str]:
    """Export classes of the accelerators a decision was about (``none`` for model-only)."""
    classes: list[str] = []
    for accelerator in record.get("accelerators") or ():
        if isinstance(accelerator, dict):
            found = accelerator.get("classifications")
            if found:
                classes.extend(str(c) for c in found)
            else:
                classes.append("unclassified")
    return list(dict.fromkeys(classes)) if len(classes) > 1 else classes


def model_vendors(record: dict[str, Any]) -> list[str]:
    vendors = [
        str(m.get("provider") or "unknown")
        for m in record.get("models") or ()
        if isinstance(m, dict)
    ]
    return list(dict.fromkeys(vendors)) if len(vendors) > 1 else vendors


def decision_row(record: dict[str, Any], path: str, line: int) -> list[str]:
    """The row of `record` in `COLUMNS` order (runs for every record: kept plain and quick)."""
    get = record.get
    obj = get("object")
    if obj.__class__ is not dict:
        obj = {}
    snapshot = get("snapshot")
    replayable = (
        "yes" if snapshot.__class__ is dict and snapshot.get("policy") and get("inputs") else "no"
    )
    accelerators = [a for a in get("accelerators") or () if a.__class__ is dict]
    models = [m for m in get("models") or () if m.__class__ is dict]
    row: list[Any] = [
        get("time"),
        get("id"),
        get("cluster") or UNKNOWN_CLUSTER,
        get("component"),
        get("action"),
        get("tenant"),
        get("user"),
        get("operation"),
        obj.get("apiVersion"),
        obj.get("kind"),
        obj.get("namespace"),
        obj.get("name"),
        get("rule"),
        get("citation"),
        get("verification"),
        get("verificationRef"),
        _join([str(j.get("country")) for j in get("jurisdictions") or () if j.__class__ is dict]),
        _join([str(p) for a in accelerators for p in a.get("products") or ()]),
        _join(accelerator_classes(record)),
        _join([str(m.get("model") or m.get("reference")) for m in models]),
        _join(model_vendors(record)),
        get("policyVersion"),
        replayable,
        path,
        str(line),
        get("message"),
    ]
    for index, value in enumerate(row):
        if value.__class__ is not str:
            row[index] = "" if value is None else str(value)
    text = "\x1f".join(row)
    if "\n" in text or "\r" in text:  # one line per decision, in the CSV and its spills
        row = [" ".join(value.splitlines()) for value in row]
    return row
