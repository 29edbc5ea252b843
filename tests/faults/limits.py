"""What the fault tests hold the processes to: the chart's memory limits, read from the chart."""

from __future__ import annotations

from pathlib import Path

import yaml

CHART_VALUES = Path(__file__).resolve().parents[2] / "charts" / "exportgate" / "values.yaml"
_UNITS = {"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30}


def _bytes(quantity: str) -> int:
    for suffix, factor in _UNITS.items():
        if quantity.endswith(suffix):
            return int(quantity[: -len(suffix)]) * factor
    return int(quantity)


def chart_memory_limit(component: str) -> int:
    """`<component>.resources.limits.memory` of the chart's defaults, in bytes."""
    values = yaml.safe_load(CHART_VALUES.read_text())
    return _bytes(str(values[component]["resources"]["limits"]["memory"]))


def peak_rss(pid: int) -> int:
    """Peak resident set size (VmHWM) of a running process, in bytes."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no VmHWM for {pid}")
