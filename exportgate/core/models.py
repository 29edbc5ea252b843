"""The model catalogue: which provider and which facts a model reference stands for."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from exportgate.core.data import load_data
from exportgate.core.decision import ResolvedModel
from exportgate.core.types import ModelRequest

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)


def strip_reference(reference: str) -> str:
    """'hf://meta-llama/Llama-4-Scout' -> 'meta-llama/Llama-4-Scout'; image tags dropped."""
    text = _SCHEME.sub("", reference.strip())
    if text.startswith("nvcr.io/nim/"):
        text = text.removeprefix("nvcr.io/nim/").split(":", 1)[0]
    return text.strip("/")


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    provider: str
    name: str
    patterns: tuple[re.Pattern[str], ...]
    weights: str | None
    tags: frozenset[str]
    training_compute: float | None


class ModelCatalogue:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data["version"])
        self.providers: dict[str, tuple[re.Pattern[str], ...]] = {
            name: tuple(re.compile(p, re.IGNORECASE) for p in spec.get("patterns", ()))
            for name, spec in data["providers"].items()
        }
        # Facts that hold for every model of a provider, used when a reference names the
        # provider but no catalogued model.
        self.provider_tags: dict[str, frozenset[str]] = {
            name: frozenset(spec.get("tags", ())) for name, spec in data["providers"].items()
        }
        self.models: dict[str, ModelEntry] = {}
        for entry in data["models"]:
            self.models[str(entry["id"])] = ModelEntry(
                id=str(entry["id"]),
                provider=str(entry["provider"]),
                name=str(entry.get("name", entry["id"])),
                patterns=tuple(re.compile(p, re.IGNORECASE) for p in entry.get("patterns", ())),
                weights=entry.get("weights"),
                tags=frozenset(entry.get("tags", ())),
                training_compute=(
                    float(entry["trainingCompute"]) if entry.get("trainingCompute") else None
                ),
            )

    def resolve(self, request: ModelRequest) -> ResolvedModel:
        text = strip_reference(request.reference)
        candidates = [text, text.rsplit("/", 1)[-1]] if "/" in text else [text]
        for entry in self.models.values():
            if any(p.fullmatch(c) for p in entry.patterns for c in candidates):
                return ResolvedModel(request.reference, entry.id, entry.provider, request.source)
        provider = request.provider.lower() if request.provider else None
        if provider is None:
            for name, patterns in self.providers.items():
                if any(p.fullmatch(c) for p in patterns for c in candidates):
                    provider = name
                    break
        return ResolvedModel(request.reference, None, provider, request.source)

    def entry(self, model_id: str | None) -> ModelEntry | None:
        return self.models.get(model_id) if model_id else None


@cache
def builtin_models() -> ModelCatalogue:
    return ModelCatalogue(load_data("models.yaml"))
