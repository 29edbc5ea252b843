"""One decision record as one flat row: the CSV columns of `exportgate audit report`.

The columns are a contract for other tools (docs/cli.md, "audit report: CSV columns"): add
columns at the end, never rename or reorder them. Lists are joined with ``;``.
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


def _join(values: Any) -> str:
    return ";".join(dict.fromkeys(str(v) for v in values if v not in (None, "")))


def _text(value: Any) -> str:
    return "" if value is None else str(value)


def accelerator_classes(record: dict[str, Any]) -> list[str]:
    """Export classes of the accelerators a decision was about (``none`` for model-only)."""
    classes: list[str] = []
    for accelerator in record.get("accelerators") or ():
        if isinstance(accelerator, dict):
            found = accelerator.get("classifications") or ()
            classes.extend(str(c) for c in found) if found else classes.append("unclassified")
    return list(dict.fromkeys(classes))


def model_vendors(record: dict[str, Any]) -> list[str]:
    return list(
        dict.fromkeys(
            str(m.get("provider") or "unknown")
            for m in record.get("models") or ()
            if isinstance(m, dict)
        )
    )


def decision_row(record: dict[str, Any], path: str, line: int) -> list[str]:
    """The row of `record` in `COLUMNS` order."""
    obj = record.get("object") if isinstance(record.get("object"), dict) else {}
    assert isinstance(obj, dict)
    snapshot = record.get("snapshot")
    replayable = (
        "yes"
        if isinstance(snapshot, dict) and snapshot.get("policy") and record.get("inputs")
        else "no"
    )
    return [
        _text(record.get("time")),
        _text(record.get("id")),
        _text(record.get("cluster") or UNKNOWN_CLUSTER),
        _text(record.get("component")),
        _text(record.get("action")),
        _text(record.get("tenant")),
        _text(record.get("user")),
        _text(record.get("operation")),
        _text(obj.get("apiVersion")),
        _text(obj.get("kind")),
        _text(obj.get("namespace")),
        _text(obj.get("name")),
        _text(record.get("rule")),
        _text(record.get("citation")),
        _text(record.get("verification")),
        _text(record.get("verificationRef")),
        _join(j.get("country") for j in record.get("jurisdictions") or () if isinstance(j, dict)),
        _join(
            p
            for a in record.get("accelerators") or ()
            if isinstance(a, dict)
            for p in a.get("products") or ()
        ),
        _join(accelerator_classes(record)),
        _join(
            m.get("model") or m.get("reference")
            for m in record.get("models") or ()
            if isinstance(m, dict)
        ),
        _join(model_vendors(record)),
        _text(record.get("policyVersion")),
        replayable,
        path,
        str(line),
        _text(record.get("message")),
    ]
