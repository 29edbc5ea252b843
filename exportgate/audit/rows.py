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
    """The row of `record` in `COLUMNS` order.

    Runs for every decision of a report, so each list in the record is walked once and the
    row is built in one go; `accelerator_classes` and `model_vendors` say the same for one
    record at a time (explain).
    """
    get = record.get
    obj = get("object")
    if obj.__class__ is not dict:
        obj = {}
    snapshot = get("snapshot")
    replayable = (
        "yes" if snapshot.__class__ is dict and snapshot.get("policy") and get("inputs") else "no"
    )
    products: list[str] = []
    classes: list[str] = []
    for accelerator in get("accelerators") or ():
        if accelerator.__class__ is dict:
            products += [str(p) for p in accelerator.get("products") or ()]
            found = accelerator.get("classifications")
            if found:
                classes += [str(c) for c in found]
            else:
                classes.append("unclassified")
    models: list[str] = []
    vendors: list[str] = []
    for model in get("models") or ():
        if model.__class__ is dict:
            models.append(str(model.get("model") or model.get("reference")))
            vendors.append(str(model.get("provider") or "unknown"))
    countries = [str(j.get("country")) for j in get("jurisdictions") or () if j.__class__ is dict]
    row = [
        value if value.__class__ is str else "" if value is None else str(value)
        for value in (
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
            _join(countries),
            _join(products),
            _join(classes),
            _join(models),
            _join(vendors),
            get("policyVersion"),
            replayable,
            path,
            str(line),
            get("message"),
        )
    ]
    text = "\x1f".join(row)
    if "\n" in text or "\r" in text:  # one line per decision, in the CSV and its spills
        row = [" ".join(value.splitlines()) for value in row]
    return row


def csv_line(row: list[str]) -> str:
    """`row` as one CSV line with its newline: what ``csv.writer`` writes, quicker.

    Runs for every decision of a report (a million of them), where ``csv.writer`` cost more
    than reading the record. The rules of ``csv.QUOTE_MINIMAL`` for a row `decision_row` made
    (no line breaks): a field holding a comma or a double quote is put in double quotes, with
    its double quotes doubled; every other field is written as it is.
    """
    text = ",".join(row)
    if '"' not in text and text.count(",") == len(row) - 1:  # most rows: nothing to quote
        return text + "\n"
    return ",".join([_quoted(v) if "," in v or '"' in v else v for v in row]) + "\n"


def _quoted(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'
