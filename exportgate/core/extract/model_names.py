"""The one reader of model-reference spellings: a reference as a manifest writes it -> a `Reading`.

A model is named in many ways: ``claude-3-5-sonnet-20240620``, a Bedrock model id
(``anthropic.claude-3-5-sonnet-20240620-v1:0``), a Bedrock inference profile
(``us.anthropic.claude-3-7-sonnet-20250219-v1:0``) or its ARN, a Vertex AI publisher path
(``projects/p/locations/l/publishers/anthropic/models/claude-3-5-sonnet@20240620``), a LiteLLM
id (``bedrock/converse/us.anthropic.claude...``, ``vertex_ai/gemini-2.0-flash``), a Gemini SDK
name (``models/gemini-1.5-pro``), a human spelling ("Claude 3.5 Sonnet", "GPT 4o"), with a
provider field spelled ``bedrock``, ``anthropic.com`` or ``AzureOpenAI``. This module unwraps all
of these into the *forms* the model catalogue matches, plus what the structure says about who
serves the model. It knows no model names: every alias, prefix and platform is data in
``exportgate/data/models.yaml``; the catalogue (`exportgate.core.models`) decides.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from exportgate.core.limits import MAX_MODEL_REFERENCE_CHARS

ANY_MODEL = "*"
"""The reference of a request that reaches a provider without naming a model (a gateway backend
for Anthropic's API): any model of that provider."""

ENV_FROM = "$(envFrom {kind} {name})"
"""The reference of a model server or client whose variables come from ``envFrom``: the model it
loads or calls is set at run time, from a ConfigMap or Secret exportgate cannot read offline."""

_SCHEME = re.compile(r"^[a-z][a-z0-9+.-]*://", re.IGNORECASE)
UNREADABLE = "$(unreadable {what})"
"""The reference of a model named in something exportgate could not read within its caps (a
Ray Serve config past `MAX_EMBEDDED_CHARS` or the alias and depth caps, a value past the
``$(VAR)`` expansion caps, a model file past `MAX_MODEL_FILES`): decided like a model set at run
time, as the most restrictive."""


def is_unreadable(reference: str) -> bool:
    """True for an `UNREADABLE` reference."""
    return reference.startswith("$(unreadable ")


_UNEXPANDED = re.compile(r"\$\(|\$\{|^\$[A-Za-z_]")
_VERTEX = re.compile(
    r"^(?:projects/[^/]+/locations/[^/]+/)?publishers/(?P<publisher>[^/]+)/models/(?P<model>[^/@]+)"
    r"(?:@.*)?$",
    re.IGNORECASE,
)
_VERTEX_ENDPOINT = re.compile(r"^projects/[^/]+/locations/[^/]+/endpoints/[^/]+$", re.IGNORECASE)
_BEDROCK_REVISION = re.compile(r":[0-9]+(:[0-9a-z]+)?$", re.IGNORECASE)  # ":0", ":0:200k"
_BEDROCK_VERSION = re.compile(r"-v[0-9]+$", re.IGNORECASE)  # "-v1"
_SPACES = re.compile(r"[\s_]+")
_REGEX_TAIL = re.compile(r"(\.\*|\.\+|\$)+$")
_READABLE_BEDROCK_ARNS = ("foundation-model", "inference-profile")  # ARNs carrying a model id
# Trailing path segments matched on their own ("s3://bucket/models/org/name" -> "org/name",
# "name"). Catalogue patterns name at most an organisation and a model; a form per segment of
# an arbitrarily deep path would make reading quadratic in the reference.
_SUFFIX_SEGMENTS = 8


def provider_key(name: str) -> str:
    """How provider spellings are compared: case, "-", "_" and spaces do not matter."""
    return re.sub(r"[-_\s]", "", name.strip().lower())


def _strip_location(text: str) -> str:
    """'hf://meta-llama/Llama-4-Scout' -> 'meta-llama/Llama-4-Scout'; a NIM image's tag dropped."""
    text = _SCHEME.sub("", text)
    if text.startswith("nvcr.io/nim/"):
        text = text.removeprefix("nvcr.io/nim/").split(":", 1)[0]
    return text.strip("/")


@dataclass(frozen=True, slots=True)
class Reading:
    """What a reference says, before the catalogue matches it.

    `forms` are the spellings to match against catalogue patterns, most specific first (empty
    when nothing could be read). `vendor` is a catalogued provider the structure or the provider
    field names; `platform` a hosting platform; `other` a known provider without catalogued terms;
    `unknown_provider` a provider field exportgate does not know. `unreadable` says, for a
    tenant, why no model name could be read ("" when one could); `hosted` is True when the
    reference certainly names a hosted service (an ARN, a Vertex endpoint). `serving_vendor` is
    a catalogued provider the manifest names as the one *serving* the model (a provider field,
    a vendor SDK variable, a ``gemini/`` prefix, a vendor's fine-tuned id), as opposed to a
    publisher named inside a platform's id (``openai.gpt-oss-120b-1:0`` on Bedrock).
    `run_time` is True when the model is set at run time (an unresolved ``$(VAR)``, envFrom).
    """

    forms: tuple[str, ...]
    vendor: str | None = None
    platform: str | None = None
    other: str | None = None
    unknown_provider: str | None = None
    unreadable: str = ""
    hosted: bool = False
    serving_vendor: str | None = None
    run_time: bool = False


@dataclass(frozen=True, slots=True)
class _Platform:
    id: str
    name: str
    route_words: frozenset[str]
    serves: tuple[str, ...]


class ModelNames:
    """The spelling tables of models.yaml, compiled once."""

    def __init__(self, data: Mapping[str, Any]) -> None:
        self.provider_names: dict[str, str] = {}
        self._aliases: dict[str, tuple[str, str]] = {}  # key -> (kind, id)
        self._prefixes: dict[str, tuple[str, str]] = {}
        for name, spec in data["providers"].items():
            self.provider_names[name] = str(spec.get("name", name))
            for alias in (name, *spec.get("aliases", ())):
                self._aliases[provider_key(alias)] = ("vendor", name)
            for prefix in spec.get("prefixes", ()):
                self._prefixes[prefix.lower()] = ("vendor", name)
        self.platforms: dict[str, _Platform] = {}
        self._arn_services: dict[str, str] = {}
        for name, spec in (data.get("platforms") or {}).items():
            if spec.get("arnService"):
                self._arn_services[str(spec["arnService"]).lower()] = name
            self.platforms[name] = _Platform(
                name,
                str(spec.get("name", name)),
                frozenset(w.lower() for w in spec.get("routeWords", ())),
                tuple(spec.get("serves", ())),
            )
            for alias in (name, *spec.get("aliases", ())):
                self._aliases[provider_key(alias)] = ("platform", name)
            for prefix in spec.get("prefixes", ()):
                self._prefixes[prefix.lower()] = ("platform", name)
        for other in data.get("otherProviders", ()):
            self._aliases.setdefault(provider_key(other), ("other", other))
            self._prefixes.setdefault(other.lower(), ("other", other))
        self._tuned_prefixes = tuple(
            (str(prefix).lower(), str(vendor))
            for prefix, vendor in (data.get("tunedPrefixes") or {}).items()
        )
        bedrock = data.get("bedrock") or {}
        self._profiles = frozenset(p.lower() for p in bedrock.get("profilePrefixes", ()))
        self._bedrock_vendors = {k.lower(): str(v) for k, v in bedrock.get("vendors", {}).items()}

    def provider(self, name: str | None) -> tuple[str, str] | None:
        """``(kind, id)`` of a provider field (vendor, platform or other); None if unknown."""
        if not name or not name.strip():
            return None
        return self._aliases.get(provider_key(name))

    def read(self, reference: str, provider: str | None = None) -> Reading:
        """Unwrap `reference` (named with `provider`, if the manifest gave one)."""
        state = _State()
        named = self.provider(provider)
        if provider and provider.strip() and named is None:
            state.unknown_provider = provider.strip()
        elif named is not None:
            state.note(*named, serving=True)
        text = reference.strip().strip("'\"")
        if len(text) > MAX_MODEL_REFERENCE_CHARS and not is_unreadable(text):
            state.run_time = True  # could be any model: decided as the most restrictive
            state.unreadable = (
                f"a model reference of {len(text)} characters ({text[:64]!r}...) is longer than "
                f"exportgate reads (MAX_MODEL_REFERENCE_CHARS = {MAX_MODEL_REFERENCE_CHARS})"
            )
            return state.reading(())
        if "%" in text:
            text = unquote(text)  # "meta-llama%2FLlama-4-Scout": a URL-encoded hub id
        if not text or text == ANY_MODEL:
            return state.reading(())
        if _UNEXPANDED.search(text):
            state.run_time = True
            state.unreadable = _run_time(text)
            return state.reading(())
        text = _REGEX_TAIL.sub("", text.lstrip("^"))  # a gateway header matched by regex
        if text.lower().startswith("arn:"):
            text = self._arn(text, state)
            if not text:
                return state.reading(())
        text = _strip_location(text)
        vertex = _VERTEX.match(text)
        if vertex is not None:
            state.platform = state.platform or "vertex"
            self._name_vendor(vertex["publisher"], state)
            text = vertex["model"]
        elif _VERTEX_ENDPOINT.match(text):
            state.platform, state.hosted = "vertex", True
            state.unreadable = "a Vertex AI endpoint id names no model"
            return state.reading(())
        if text.lower().startswith("models/") and text.count("/") == 1:
            text = text.split("/", 1)[1]  # the Gemini SDK's resource names
        text = self._tuned(text, state)
        forms: dict[str, None] = {}  # in order, most specific first
        _add(forms, text)
        text = self._strip_prefixes(text, state, forms)
        bedrock = self._bedrock_id(text, state)
        if bedrock:
            _add(forms, bedrock)  # claude-v2 (a model named with its version)
            _add(forms, _BEDROCK_VERSION.sub("", bedrock))  # claude-3-haiku-20240307
        segments = text.split("/")
        for start in range(max(1, len(segments) - _SUFFIX_SEGMENTS), len(segments)):
            _add(forms, "/".join(segments[start:]))
        for form in list(forms):
            if any(ch.isspace() for ch in form):
                _add(forms, _SPACES.sub("-", form.strip().lower()))  # "Claude 3.5 Sonnet"
            if "@" in form:
                _add(forms, form.split("@", 1)[0])  # Vertex AI's claude-3-5-sonnet@20240620
        return state.reading(tuple(forms))

    def _tuned(self, text: str, state: _State) -> str:
        """A vendor's fine-tuned model (``ft:gpt-4o-mini:org::id``, ``tunedModels/x``): the
        vendor's, named by its base model where the id carries one."""
        lowered = text.lower()
        for prefix, vendor in self._tuned_prefixes:
            if lowered.startswith(prefix):
                self._name_vendor(vendor, state, serving=True)
                rest = text[len(prefix) :]
                return rest.split(":", 1)[0] if prefix.endswith(":") else rest
        return text

    def platform(self, name: str) -> _Platform | None:
        return self.platforms.get(name)

    def _arn(self, text: str, state: _State) -> str:
        """The model id inside a Bedrock ARN, or "" (with `unreadable` set) when it has none."""
        state.hosted = True
        parts = text.split(":", 5)
        platform = self._arn_services.get(parts[2].lower()) if len(parts) == 6 else None
        if platform is None:
            state.unreadable = f"the ARN {text} is not one exportgate can read"
            return ""
        state.platform = platform
        kind, _, rest = parts[5].partition("/")
        readable = platform == "bedrock" and kind.lower() in _READABLE_BEDROCK_ARNS
        if readable and rest:
            return rest
        name = self.platforms[platform].name
        state.unreadable = f"an {name} {kind or 'resource'} ARN does not say which model it serves"
        return ""

    def _strip_prefixes(self, text: str, state: _State, forms: dict[str, None]) -> str:
        """Drop leading provider/platform segments ("bedrock/converse/", "vertex_ai/")."""
        while "/" in text:
            head, rest = text.split("/", 1)
            found = self._prefixes.get(head.lower())
            platform = self.platforms.get(state.platform or "")
            if found is not None:
                state.note(*found, serving=True)
            elif platform is None or head.lower() not in platform.route_words:
                return text
            text = rest
            _add(forms, text)
        return text

    def _bedrock_id(self, text: str, state: _State) -> str:
        """``[geo.]vendor.model[-vN][:N]`` -> ``model`` (the vendor is noted), else ""."""
        parts = text.split(".")
        if len(parts) >= 3 and parts[0].lower() in self._profiles:
            parts = parts[1:]  # an inference profile: us.anthropic.claude-...
        if len(parts) < 2 or parts[0].lower() not in self._bedrock_vendors:
            return ""
        state.platform = state.platform or "bedrock"
        self._name_vendor(self._bedrock_vendors[parts[0].lower()], state)
        return _BEDROCK_REVISION.sub("", ".".join(parts[1:]))

    def _name_vendor(self, name: str, state: _State, *, serving: bool = False) -> None:
        found = self._aliases.get(provider_key(name))
        if found is not None and found[0] != "platform":
            state.note(*found, serving=serving)


class _State:
    """What has been learnt about a reference while unwrapping it."""

    __slots__ = (
        "hosted",
        "other",
        "platform",
        "run_time",
        "serving_vendor",
        "unknown_provider",
        "unreadable",
        "vendor",
    )

    def __init__(self) -> None:
        self.vendor: str | None = None
        self.platform: str | None = None
        self.other: str | None = None
        self.unknown_provider: str | None = None
        self.unreadable = ""
        self.hosted = False
        self.serving_vendor: str | None = None
        self.run_time = False

    def note(self, kind: str, name: str, *, serving: bool = False) -> None:
        # The most specific statement wins: a vendor named inside a Bedrock id beats the
        # "bedrock" provider field, which only says where the vendor's model is hosted.
        if kind == "vendor":
            self.vendor = name
            if serving:
                self.serving_vendor = self.serving_vendor or name
        elif kind == "platform":
            self.platform = self.platform or name
        elif self.vendor is None:
            self.other = self.other or name

    def reading(self, forms: tuple[str, ...]) -> Reading:
        return Reading(
            forms=forms,
            vendor=self.vendor,
            platform=self.platform,
            other=None if self.vendor else self.other,
            unknown_provider=self.unknown_provider,
            unreadable=self.unreadable,
            hosted=self.hosted,
            serving_vendor=self.serving_vendor,
            run_time=self.run_time,
        )


_ENV_FROM = re.compile(r"^\$\(envFrom (?P<kind>\S+) (?P<name>.*)\)$")
_UNREADABLE = re.compile(r"^\$\(unreadable (?P<what>.*)\)$")


def _run_time(text: str) -> str:
    """Why a run-time reference cannot be read, in the tenant's terms."""
    unreadable = _UNREADABLE.match(text)
    if unreadable is not None:
        return f"{unreadable['what']} could not be read, so the model it names is unknown"
    env_from = _ENV_FROM.match(text)
    if env_from is not None:
        return (
            f"the model server's variables come from envFrom ({env_from['kind']} "
            f"{env_from['name']!r}), which exportgate cannot read, and nothing else names the model"
        )
    return f"{text} is set at run time and could not be resolved from the manifest"


def _add(forms: dict[str, None], form: str) -> None:
    form = form.strip().strip("/")
    if form:
        forms.setdefault(form)
