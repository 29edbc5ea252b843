"""Model references in manifests -> `ModelRequest`s.

A served, fine-tuned or hosted model shows up in many places: a storage URI (``hf://org/name``,
``s3://bucket/path``), a server flag (``--model_id=org/name``, ``--model org/name``), a
positional argument (``vllm serve org/name``, ``ollama run llama3``), an environment variable
(``MODEL_ID``, or a vendor SDK variable such as ``ANTHROPIC_MODEL`` that names the provider
too), an NVIDIA NIM image (``nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3``), a gateway route's
model header or a plain field of a custom resource. This module reads each of these *shapes*;
the adapters say *where* they are, and the names of variables, flags and headers are data
(``exportgate/data/models.yaml``). References are kept as written: the model catalogue reads
them with the one normaliser (`model_names`).

``$(VAR)`` references are resolved from the container's environment as the kubelet would
(`envvars`); one that cannot be resolved offline (a Secret, a ConfigMap) is still reported, as
written, so the catalogue can say it could not identify it rather than treat it as nothing.
Values that name a file inside the container (``--model /mnt/models``) are not references: the
real reference is wherever the file comes from, which the adapters read separately. Names a
server only *advertises* (vLLM's ``--served-model-name``) are aliases, never model ids.
"""

from __future__ import annotations

import re
import shlex
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from exportgate.core.data import load_data
from exportgate.core.extract.envvars import (
    Environment,
    Variable,
    container_env,
    environment,
    expand,
)
from exportgate.core.extract.model_names import ANY_MODEL, provider_key
from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.types import ModelRequest

_LOCAL_PREFIXES = ("/", "./", "../", "~", "file:", "pvc://")
# Past this many tokens a command line is not a server invocation worth reading; it also caps
# the work an adversarial manifest can cause.
_MAX_TOKENS = 4096

_Found = list[tuple[str, str | None, str]]  # (reference, provider, field)
_TRUE = frozenset({"1", "true", "yes", "on"})
_INNER_SPACE = re.compile(r"\S\s+\S")  # a whole shell line in one argument


@dataclass(frozen=True, slots=True)
class _Places:
    """Where models.yaml says containers and gateways name models."""

    vendor_env: Mapping[str, str]
    switch_env: Mapping[str, str]
    generic_env: frozenset[str]
    advertised_env: frozenset[str]
    model_flags: frozenset[str]
    advertised_flags: frozenset[str]
    alias_flags: frozenset[str]
    positional: frozenset[tuple[str, str]]
    model_headers: frozenset[str]
    shape_only: frozenset[str]
    vendor_hosts: tuple[tuple[re.Pattern[str], str], ...]


@cache
def _places() -> _Places:
    data = load_data("models.yaml")
    env, commands, gateways = data["environment"], data["commands"], data["gateways"]
    return _Places(
        vendor_env=dict(env["vendor"]),
        switch_env=dict(env["switches"]),
        generic_env=frozenset(env["generic"]),
        advertised_env=frozenset(env["advertised"]),
        model_flags=frozenset(commands["modelFlags"]),
        advertised_flags=frozenset(commands["advertisedFlags"]),
        alias_flags=frozenset(commands["aliasFlags"]),
        positional=frozenset((p["program"], p["subcommand"]) for p in commands["positional"]),
        model_headers=frozenset(h.lower() for h in gateways["modelHeaders"]),
        shape_only=frozenset(provider_key(s) for s in gateways["shapeOnlySchemas"]),
        vendor_hosts=tuple(
            (re.compile(pattern, re.IGNORECASE), str(provider))
            for pattern, provider in gateways["vendorHosts"].items()
        ),
    )


def is_reference(value: str) -> bool:
    """False for empty values and paths inside the container. Unresolved ``$(VAR)``s count."""
    text = value.strip()
    return bool(text) and not text.startswith(_LOCAL_PREFIXES)


def from_plain(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    text = expect_string(value, field).strip()
    return [ModelRequest(text, provider, field)] if text else []


def from_uri(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A storage URI, kept as written. ``pvc://`` and local paths say nothing about the model."""
    text = expect_string(value, field).strip()
    if not is_reference(text):
        return []
    return [ModelRequest(text, provider, field)]


def from_image(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """An image that *is* a model (the adapter says so): NIM images get their provider."""
    text = expect_string(value, field).strip()
    if not text:
        return []
    nim = nim_model(text)
    if nim is not None:
        reference, organisation = nim
        return [ModelRequest(reference, provider or organisation, field)]
    return [ModelRequest(_strip_tag(text), provider, field)]


def from_args(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A command line (list of strings): model flags, and ``vllm serve <model>``."""
    primary, fallback = _scan_tokens(_tokens(value, field, {}))
    return [ModelRequest(ref, provider, where) for ref, where in primary or fallback]


def from_env(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A container ``env`` list: model variables (vendor SDK ones name their provider)."""
    primary, fallback = _scan_env(container_env(value, field))
    return [
        ModelRequest(ref, given or provider, where) for ref, given, where in primary or fallback
    ]


def from_provider(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A field naming the provider or API schema a backend reaches, without a model (Envoy AI
    Gateway's ``schema.name``): any model of that provider. Schemas that only name a wire
    format any server speaks (``OpenAI``) name no provider."""
    text = expect_string(value, field).strip()
    if not text or provider_key(text) in _places().shape_only:
        return []
    return [ModelRequest(ANY_MODEL, text, field)]


def from_headers(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """Gateway header matches (``[{name, value, type}]``): the model header's value."""
    found = []
    for index, item in enumerate(expect_list(value, field)):
        where = join_index(field, index)
        header = expect_mapping(item, where)
        name = header.get("name")
        if not isinstance(name, str) or name.lower() not in _places().model_headers:
            continue
        text = expect_string(header.get("value"), join_key(where, "value")).strip()
        if text:
            found.append(ModelRequest(text, provider, join_key(where, "value")))
    return found


def from_host(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A gateway endpoint's host name (or URL): a vendor's or platform's model API host
    (``api.anthropic.com``, ``bedrock-runtime.us-east-1.amazonaws.com``) reaches any model of
    it, whatever API schema the backend declares. Other hosts name nothing."""
    text = expect_string(value, field).strip()
    host = text.split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1].split(":", 1)[0]
    for pattern, reached in _places().vendor_hosts:
        if pattern.fullmatch(host.rstrip(".")):
            return [ModelRequest(ANY_MODEL, reached, field)]
    return []


ModelParser = Callable[[object, str, str | None], list[ModelRequest]]

MODEL_PARSERS: Mapping[str, ModelParser] = {
    "plain": from_plain,
    "uri": from_uri,
    "image": from_image,
    "args": from_args,
    "env": from_env,
    "provider": from_provider,
    "gateway-headers": from_headers,
    "host": from_host,
}
"""The shapes an adapter's ``models[].parse`` may name."""


def scan_container(container: Mapping[str, Any], field: str) -> list[ModelRequest]:
    """Every model reference in one container: flags, positional models, environment, a NIM
    image, and the ``postStart`` hook (``ollama pull llama3``).

    Within a container, advertised names (``--model_name``, ``MODEL_NAME``) count only when no
    flag or variable names the model itself.
    """
    primary: _Found = []
    fallback: _Found = []
    env: Environment = {}
    if container.get("env") is not None:
        variables = container_env(container["env"], join_key(field, "env"))
        env = environment(variables)
        found, spare = _scan_env(variables)
        primary.extend(found)
        fallback.extend(spare)
    lines: list[tuple[object, str]] = [
        (container[key], join_key(field, key))
        for key in ("command", "args")
        if container.get(key) is not None
    ]
    hook = _post_start(container, field)
    if hook is not None:
        lines.append(hook)
    for value, where in lines:
        found_tokens, spare_tokens = _scan_tokens(_tokens(value, where, env))
        primary.extend((ref, None, at) for ref, at in found_tokens)
        fallback.extend((ref, None, at) for ref, at in spare_tokens)
    models = [ModelRequest(ref, provider, where) for ref, provider, where in primary or fallback]
    image = container.get("image")
    if image is not None:
        nim = nim_model(expect_string(image, join_key(field, "image")))
        if nim is not None:
            models.append(ModelRequest(nim[0], nim[1], join_key(field, "image")))
    return models


def nim_model(image: str) -> tuple[str, str] | None:
    """``(org/model, org)`` for an NVIDIA NIM image such as ``nvcr.io/nim/meta/llama3:1``.

    NIM images live under ``<registry>/nim/<organisation>/<model>`` (mirrors keep that tail), so
    a ``nim`` segment after the registry host, followed by two more segments, marks one.
    """
    parts = _strip_tag(image.strip()).split("/")
    for index in range(1, len(parts) - 2):
        if parts[index] == "nim" and parts[index + 1] and parts[index + 2]:
            organisation = parts[index + 1]
            return f"{organisation}/{'/'.join(parts[index + 2 :])}", organisation
    return None


def dedupe(models: Iterable[ModelRequest]) -> tuple[ModelRequest, ...]:
    """Drop repeats of the same (reference, provider), keeping the first place it was seen."""
    seen: set[tuple[str, str | None]] = set()
    unique = []
    for model in models:
        identity = (model.reference, model.provider)
        if identity not in seen:
            seen.add(identity)
            unique.append(model)
    return tuple(unique)


def _post_start(container: Mapping[str, Any], field: str) -> tuple[object, str] | None:
    lifecycle = container.get("lifecycle")
    if not isinstance(lifecycle, Mapping):
        return None
    hook = lifecycle.get("postStart")
    exec_ = hook.get("exec") if isinstance(hook, Mapping) else None
    command = exec_.get("command") if isinstance(exec_, Mapping) else None
    if command is None:
        return None
    where = field
    for key in ("lifecycle", "postStart", "exec", "command"):
        where = join_key(where, key)
    return command, where


def _strip_tag(image: str) -> str:
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def _tokens(value: object, field: str, env: Environment) -> list[tuple[str, str]]:
    """(token, field) pairs, ``$(VAR)`` expanded; an argument holding a whole shell line is
    split like a shell (and its ``$VAR``s expanded, as the shell would)."""
    tokens: list[tuple[str, str]] = []
    for index, item in enumerate(expect_list(value, field)):
        where = join_index(field, index)
        text = expect_string(item, where)
        if _INNER_SPACE.search(text):
            line = expand(text, env, shell=True)
            try:
                parts = shlex.split(line)
            except ValueError:  # unbalanced quotes: still read the words
                parts = line.split()
            tokens.extend((part, where) for part in parts)
        else:
            tokens.append((expand(text, env), where))
        if len(tokens) > _MAX_TOKENS:
            break
    return tokens[:_MAX_TOKENS]


def _scan_tokens(
    tokens: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(primary, fallback) references with the field of the argument they came from."""
    places = _places()
    primary: list[tuple[str, str]] = []
    fallback: list[tuple[str, str]] = []
    for position, (token, where) in enumerate(tokens):
        following = tokens[position + 1][0] if position + 1 < len(tokens) else ""
        if position > 0 and (_program(tokens[position - 1][0]), token) in places.positional:
            # "vllm serve <model> [flags]", "ollama run <model>": the model is positional.
            if not following.startswith("-") and is_reference(following):
                primary.append((following.strip(), tokens[position + 1][1]))
            continue
        flag, equals, inline = token.partition("=")
        if flag in places.alias_flags or (
            flag not in places.model_flags and flag not in places.advertised_flags
        ):
            continue  # --served-model-name is an alias clients use, never the model
        # "--model=x" carries its value; "--model x" takes the next token unless that is
        # itself a flag ("--model --port 8000" is a flag without a value).
        value = inline if equals else ("" if following.startswith("-") else following)
        if is_reference(value):
            (primary if flag in places.model_flags else fallback).append((value.strip(), where))
    return primary, fallback


def _program(token: str) -> str:
    """``/usr/local/bin/vllm`` -> ``vllm``."""
    return token.rsplit("/", 1)[-1]


def _scan_env(variables: list[Variable]) -> tuple[_Found, _Found]:
    places = _places()
    primary: _Found = []
    fallback: _Found = []
    for variable in variables:
        name = variable.name
        switched = places.switch_env.get(name)
        if switched is not None and (variable.value or "").strip().lower() in _TRUE:
            primary.append((ANY_MODEL, switched, variable.field))
            continue
        vendor = places.vendor_env.get(name)
        if vendor is None and name not in places.generic_env and name not in places.advertised_env:
            continue
        # A value exportgate cannot read (valueFrom) is still a model reference: reported by
        # the variable's name, so the catalogue can say what it could not identify.
        value = variable.value
        text = f"$({name})" if value is None else value.strip()
        if not is_reference(text):
            continue
        if vendor is not None or name in places.generic_env:
            primary.append((text, vendor, variable.field))
        else:
            fallback.append((text, None, variable.field))
    return primary, fallback
