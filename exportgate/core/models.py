"""The model catalogue: which provider and which facts a model reference stands for.

`ModelCatalogue.resolve` reads a reference with the one normaliser
(`exportgate.core.extract.model_names`) and then decides, in this order:

1. an open-weight family (``openWeights``: gpt-oss, GPT-J, Gemma...), so a name that starts like
   a vendor's hosted family is never taken for the hosted API;
2. a catalogued model (``models``);
3. the provider the manifest or the reference's structure names (a ``ModelEndpoint`` provider,
   ``ANTHROPIC_MODEL``, ``anthropic/...``, the vendor inside a Bedrock id): an unrecognised model
   of a catalogued provider is that provider's model and carries its terms (fail closed);
4. a provider's name patterns (``claude-*``, ``gpt-*``, ``gemini-*``);
5. a provider without catalogued terms (``ollama``, ``mistralai``): nothing restricted;
6. a hosting platform (Bedrock, Vertex AI, Azure) or a hosted reference that cannot be read (an
   ARN of another kind, an unknown provider name): every provider it could be, decided as the
   most restrictive of them, with a note saying what could not be identified;
7. otherwise an unattributed reference (weights served in the cluster, a storage URI): no
   vendor's terms apply; a run-time value that could not be resolved is noted.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from exportgate.core.data import load_data
from exportgate.core.decision import ResolvedModel
from exportgate.core.extract.model_names import ModelNames, Reading
from exportgate.core.types import ModelRequest

_CACHED_LENGTH = 512
_Answer = tuple[str | None, str | None, tuple[str, ...], str]
_FIX = (
    'name a catalogued model (see docs/policies.md, "Ways to reach a model") or ask the '
    "platform team to add an alias to exportgate's models.yaml"
)


@dataclass(frozen=True, slots=True)
class ModelEntry:
    id: str
    provider: str | None  # whose terms bind the model; None for permissive open weights
    name: str
    patterns: tuple[re.Pattern[str], ...]
    weights: str | None
    tags: frozenset[str]
    training_compute: float | None
    publisher: str | None = None
    # All patterns as one expression: one match per form instead of one per pattern.
    matcher: re.Pattern[str] = re.compile("(?!)")


def _entry(entry: Mapping[str, Any]) -> ModelEntry:
    provider = entry.get("provider")
    return ModelEntry(
        id=str(entry["id"]),
        provider=str(provider) if provider else None,
        name=str(entry.get("name", entry["id"])),
        patterns=tuple(re.compile(p, re.IGNORECASE) for p in entry.get("patterns", ())),
        weights=entry.get("weights"),
        tags=frozenset(entry.get("tags", ())),
        training_compute=(
            float(entry["trainingCompute"]) if entry.get("trainingCompute") else None
        ),
        publisher=entry.get("publisher") or provider,
        matcher=re.compile(
            "|".join(f"(?:{p})" for p in entry.get("patterns", ())) or "(?!)", re.IGNORECASE
        ),
    )


class ModelCatalogue:
    def __init__(self, data: Mapping[str, Any]) -> None:
        self.version = str(data["version"])
        self.names = ModelNames(data)
        self.providers: dict[str, tuple[re.Pattern[str], ...]] = {
            name: tuple(re.compile(p, re.IGNORECASE) for p in spec.get("patterns", ()))
            for name, spec in data["providers"].items()
        }
        # Facts that hold for every model of a provider, used when a reference names the
        # provider but no catalogued model.
        self.provider_tags: dict[str, frozenset[str]] = {
            name: frozenset(spec.get("tags", ())) for name, spec in data["providers"].items()
        }
        self.hosted_providers = tuple(
            name for name, tags in self.provider_tags.items() if "hosted" in tags
        )
        # Open-weight families first: they are matched before any hosted pattern.
        self.models: dict[str, ModelEntry] = {}
        for entry in (*data.get("openWeights", ()), *data["models"]):
            self.models[str(entry["id"])] = _entry(entry)

        # The same few references recur in every admission: remember the answers. Bounded, and
        # only for references of ordinary length, so no input can make it grow without limit.
        self._cached = functools.lru_cache(maxsize=4096)(self._lookup)

    def resolve(self, request: ModelRequest) -> ResolvedModel:
        lookup = self._cached if len(request.reference) <= _CACHED_LENGTH else self._lookup
        model_id, provider, providers, note = lookup(request.reference, request.provider)
        return ResolvedModel(request.reference, model_id, provider, request.source, providers, note)

    def _lookup(self, reference: str, given: str | None) -> _Answer:
        reading = self.names.read(reference, given)

        def answer(
            model_id: str | None,
            provider: str | None,
            providers: tuple[str, ...] = (),
            note: str = "",
        ) -> _Answer:
            return model_id, provider, providers, note

        for entry in self.models.values():
            if any(entry.matcher.fullmatch(form) for form in reading.forms):
                return answer(entry.id, entry.provider)
        if reading.vendor is not None:
            return answer(None, reading.vendor, note=self._vendor_note(reading))
        for name, patterns in self.providers.items():
            if any(p.fullmatch(form) for p in patterns for form in reading.forms):
                return answer(None, name, note=self._vendor_note(reading, name))
        if reading.other is not None:
            return answer(None, None, note=reading.unreadable)
        platform = self.names.platform(reading.platform or "")
        if platform is not None:
            serves = tuple(p for p in platform.serves if p in self.providers)
            return answer(
                None, None, serves, self._unattributed_note(reading, platform.name, serves)
            )
        if reading.unknown_provider is not None or reading.hosted:
            what = (
                f"provider {reading.unknown_provider!r} is not one exportgate knows"
                if reading.unknown_provider
                else reading.unreadable
            )
            return answer(
                None,
                None,
                self.hosted_providers,
                self._unattributed_note(reading, None, self.hosted_providers, what),
            )
        if reading.unreadable:
            return answer(None, None, note=f"not identified: {reading.unreadable}")
        return answer(None, None)

    def possible(self, providers: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
        """(tags, model ids) a model of any of `providers` could have: their provider tags and
        every catalogued model of theirs, for a reference that could be any of them."""
        entries = [e for e in self.models.values() if e.provider in providers]
        tags = frozenset().union(
            *(self.provider_tags.get(p, frozenset()) for p in providers), *(e.tags for e in entries)
        )
        return tags, frozenset(e.id for e in entries)

    def entry(self, model_id: str | None) -> ModelEntry | None:
        return self.models.get(model_id) if model_id else None

    def provider_name(self, provider: str) -> str:
        return self.names.provider_names.get(provider, provider)

    def _vendor_note(self, reading: Reading, provider: str | None = None) -> str:
        """A model of a known provider that names no catalogued model."""
        name = self.provider_name(provider or reading.vendor or "")
        if not reading.forms:
            what = reading.unreadable or "no model is named"
            return f"not identified: {what}; decided by {name}'s terms for all its models"
        return f"not a catalogued {name} model; decided by {name}'s terms for all its models"

    def _unattributed_note(
        self, reading: Reading, platform: str | None, serves: tuple[str, ...], what: str = ""
    ) -> str:
        what = what or reading.unreadable or (
            f"a model on {platform} that exportgate cannot attribute"
            if reading.forms
            else f"{platform} is reached without naming a model"
        )
        vendors = ", ".join(self.provider_name(p) for p in serves) or "no catalogued provider"
        return (
            f"not identified: {what}; treated as a hosted model of any of {vendors} "
            f"(the most restrictive applies); {_FIX}"
        )


@cache
def builtin_models() -> ModelCatalogue:
    return ModelCatalogue(load_data("models.yaml"))
