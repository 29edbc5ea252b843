"""Access to the built-in data files shipped in `exportgate/data/`."""

from __future__ import annotations

from functools import cache
from importlib import resources
from typing import Any

from exportgate.core.documents import DataLoader, LocatedDocument, parse_documents


def data_text(name: str) -> str:
    return resources.files("exportgate.data").joinpath(name).read_text(encoding="utf-8")


@cache
def load_data(name: str) -> Any:
    """A built-in data file as plain data (cached: the files never change at run time).

    Read with the same loader as user documents: plain YAML 1.1 would read Norway's code NO as
    the boolean False and silently drop it from every country group.
    """
    loader = DataLoader(data_text(name))  # safe: SafeConstructor, bounded like user documents
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()


def load_located(name: str) -> list[LocatedDocument]:
    return parse_documents(data_text(name), f"exportgate/data/{name}")


def list_data(folder: str) -> list[str]:
    """Names (relative to the data root) of the YAML files in a data folder, sorted."""
    root = resources.files("exportgate.data").joinpath(folder)
    return sorted(
        f"{folder}/{entry.name}" for entry in root.iterdir() if entry.name.endswith(".yaml")
    )
