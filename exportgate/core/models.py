"""The model catalogue: which provider and which facts a model reference stands for.

`ModelCatalogue.resolve` reads a reference with the one normaliser
(`exportgate.core.extract.model_names`) and then decides, in this order:

1. an open-weight family (``openWeights``: gpt-oss, GPT-J, Gemma...), so a name that starts like
   a vendor's hosted family is never taken for the hosted API; unless the manifest names a
   hosted vendor (a ``ModelEndpoint`` provider, ``GEMINI_MODEL``, ``gemini/...``) or a platform
   serving the family's publisher (OpenRouter for Gemma) as the one serving it: then it is that
   vendor's hosted model (the Gemini API serves Gemma), decided by the vendor's terms;
2. a catalogued model (``models``);
3. the provider the manifest or the reference's structure names (a ``ModelEndpoint`` provider,
   ``ANTHROPIC_MODEL``, ``anthropic/...``, the vendor inside a Bedrock id): an unrecognised model
   of a catalogued provider is that provider's model and carries its terms (fail closed);
4. a provider's name patterns (``claude-*``, ``gpt-*``, ``gemini-*``);
5. a provider without catalogued terms (``ollama``, ``mistralai``): nothing restricted, unless
   the model is set at run time (7);
6. a hosting platform (Bedrock, Vertex AI, Azure) or a hosted reference that cannot be read (an
   ARN of another kind, an unknown provider name, an external endpoint): every provider it could
   be, decided as the most restrictive of them, with a note saying what could not be identified;
7. a model set at run time (an unresolved ``$(VAR)``, a model server's ``envFrom``): it could be
   any catalogued model, hosted or served, so every catalogued provider, decided as the most
   restrictive, with a note naming what could not be read and how to set it inline;
8. otherwise an unattributed reference (weights served in the cluster, a storage URI): no
   vendor's terms apply.
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
_RUN_TIME_FIX = (
    "set the model in the manifest itself (an env value or a server flag, not a ConfigMap, "
    'Secret or envFrom) or name a catalogued model (see docs/policies.md, "Ways to reach a model")'
)
_HOST_FIX = (
    "point the backend at a model API host exportgate knows, or ask the platform team to add "
    "the host to gateways.vendorHosts in exportgate's models.yaml"
)
_HOST_LIKE = re.compile(r"^[^\s/]*[.:][^\s/]*$")  # "proxy.example.com", "10.0.0.1", "[::1]"


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
        # A model set at run time could be any catalogued model, hosted or served in the cluster.
        self.all_providers = tuple(self.provider_tags)
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
                hosted = self._hosted_by(entry, reading)
                if hosted is not None:
                    return answer(None, hosted, note=self._served_note(entry, reading, hosted))
                return answer(entry.id, entry.provider)
        if reading.vendor is not None:
            return answer(None, reading.vendor, note=self._vendor_note(reading))
        for name, patterns in self.providers.items():
            if any(p.fullmatch(form) for p in patterns for form in reading.forms):
                return answer(None, name, note=self._vendor_note(reading, name))
        if reading.other is not None and not reading.run_time:
            return answer(None, None, note=reading.unreadable)
        platform = self.names.platform(reading.platform or "")
        if platform is not None:
            serves = tuple(p for p in platform.serves if p in self.providers)
            return answer(
                None, None, serves, self._unattributed_note(reading, platform.name, serves)
            )
        if reading.unknown_provider is not None or reading.hosted:
            unknown, fix = reading.unknown_provider, _FIX
            if unknown is None:
                what = reading.unreadable
            elif _HOST_LIKE.match(unknown):
                what = f"the external endpoint {unknown} is not a model API exportgate knows"
                fix = _HOST_FIX
            else:
                what = f"provider {unknown!r} is not one exportgate knows"
            return answer(
                None,
                None,
                self.hosted_providers,
                self._unattributed_note(reading, None, self.hosted_providers, what, fix),
            )
        if reading.run_time:
            vendors = ", ".join(self.provider_name(p) for p in self.all_providers)
            note = (
                f"not identified: {reading.unreadable}; treated as a hosted or served model of "
                f"any of {vendors} (the most restrictive applies); {_RUN_TIME_FIX}"
            )
            return answer(None, None, self.all_providers, note)
        if reading.unreadable:
            return answer(None, None, note=f"not identified: {reading.unreadable}")
        return answer(None, None)

    def _hosted_by(self, entry: ModelEntry, reading: Reading) -> str | None:
        """The hosted vendor serving an open-weight model, when the manifest names one.

        Open weights carry no vendor's terms only when they are served in the cluster or by a
        party that has none: the Gemini API serving Gemma, or a ``ModelEndpoint`` of provider
        OpenAI, is the vendor's hosted API and bound by its terms. A platform (OpenRouter,
        Vertex AI) counts when it serves the family's publisher; one that hosts the weights
        itself (gpt-oss on Bedrock) does not.
        """
        if entry.provider is not None:
            return None
        hosted = reading.serving_vendor
        if hosted is not None and "hosted" in self.provider_tags.get(hosted, frozenset()):
            return hosted
        platform = self.names.platform(reading.platform or "")
        publisher = entry.publisher
        serves = platform.serves if platform is not None else ()
        if publisher in serves and "hosted" in self.provider_tags.get(publisher or "", ()):
            return publisher
        return None

    def _served_note(self, entry: ModelEntry, reading: Reading, vendor: str) -> str:
        name = self.provider_name(vendor)
        platform = self.names.platform(reading.platform or "")
        if reading.serving_vendor is None and platform is not None:
            return (
                f"{entry.name} reached through {platform.name}, which serves {name}'s hosted "
                f"models; decided by {name}'s terms (the most restrictive reading)"
            )
        return (
            f"{entry.name} named as {name}'s hosted model, not weights served in the cluster; "
            f"decided by {name}'s terms"
        )

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
        self,
        reading: Reading,
        platform: str | None,
        serves: tuple[str, ...],
        what: str = "",
        fix: str = _FIX,
    ) -> str:
        what = (
            what
            or reading.unreadable
            or (
                f"a model on {platform} that exportgate cannot attribute"
                if reading.forms
                else f"{platform} is reached without naming a model"
            )
        )
        vendors = ", ".join(self.provider_name(p) for p in serves) or "no catalogued provider"
        return (
            f"not identified: {what}; treated as a hosted model of any of {vendors} "
            f"(the most restrictive applies); {fix}"
        )


@cache
def builtin_models() -> ModelCatalogue:
    return ModelCatalogue(load_data("models.yaml"))
