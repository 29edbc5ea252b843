"""Model references in manifests -> `ModelRequest`s.

A served or fine-tuned model shows up in many places: a storage URI (``hf://org/name``,
``s3://bucket/path``), a server flag (``--model_id=org/name``, ``--model org/name``,
``vllm serve org/name``), an environment variable (``MODEL_ID``), an NVIDIA NIM image
(``nvcr.io/nim/meta/llama-3.1-8b-instruct:1.3.3``) or a plain field of a custom resource. This
module reads each of these *shapes*; the adapters say *where* they are. References are kept as
written (the model catalogue resolves them); only obvious wrappers are removed: an image tag or
digest, and the ``nvcr.io/nim/`` registry prefix of NIM images, whose organisation becomes the
provider.

Values that name a file inside the container (``--model /mnt/models``) or that the kubelet
expands at run time (``--model=$(MODEL_ID)``) are not references: the real reference is wherever
the file or variable comes from, which the adapters read separately.
"""

from __future__ import annotations

import shlex
from collections.abc import Callable, Iterable, Mapping
from typing import Any

from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.types import ModelRequest

# Flags whose value is the model to load, as spelled by vLLM, SGLang, Hugging Face TGI, the
# KServe Hugging Face server and NIM. "--model_name"/"--model-name" only name the model the
# server *advertises*, so they count only when nothing better is present in the container.
_MODEL_FLAGS = frozenset({"--model", "--model-id", "--model_id", "--model-path", "--model_path"})
_FALLBACK_FLAGS = frozenset({"--model-name", "--model_name"})
_MODEL_ENV = frozenset({"MODEL_ID", "HF_MODEL_ID", "HF_MODEL", "MODEL_REPO_ID", "NIM_MODEL_NAME"})
_FALLBACK_ENV = frozenset({"MODEL_NAME"})
_URI_ENV = frozenset({"STORAGE_URI"})  # the KServe storage initializer's input
_LOCAL_PREFIXES = ("/", "./", "../", "~", "file:", "pvc://")
# Past this many tokens a command line is not a server invocation worth reading; it also caps
# the work an adversarial manifest can cause.
_MAX_TOKENS = 4096


def is_reference(value: str) -> bool:
    """False for empty values, paths inside the container and unexpanded variables."""
    text = value.strip()
    if not text:
        return False
    if text.startswith(_LOCAL_PREFIXES):
        return False
    return "$(" not in text and "${" not in text and not text.startswith("$")


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
    primary, fallback = _scan_tokens(_tokens(value, field))
    chosen = primary or fallback
    return [ModelRequest(ref, provider, where) for ref, where in chosen]


def from_env(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A container ``env`` list: MODEL_ID-style variables and STORAGE_URI."""
    primary, fallback = _scan_env(value, field)
    chosen = primary or fallback
    return [ModelRequest(ref, provider, where) for ref, where in chosen]


ModelParser = Callable[[object, str, str | None], list[ModelRequest]]

MODEL_PARSERS: Mapping[str, ModelParser] = {
    "plain": from_plain,
    "uri": from_uri,
    "image": from_image,
    "args": from_args,
    "env": from_env,
}
"""The shapes an adapter's ``models[].parse`` may name."""


def scan_container(container: Mapping[str, Any], field: str) -> list[ModelRequest]:
    """Every model reference in one container: flags, environment, and a NIM image.

    Within a container, advertised names (``--model_name``, ``MODEL_NAME``) count only when no
    flag or variable names the model itself.
    """
    primary: list[tuple[str, str]] = []
    fallback: list[tuple[str, str]] = []
    for key in ("command", "args"):
        if container.get(key) is not None:
            found, spare = _scan_tokens(_tokens(container[key], join_key(field, key)))
            primary.extend(found)
            fallback.extend(spare)
    if container.get("env") is not None:
        found, spare = _scan_env(container["env"], join_key(field, "env"))
        primary.extend(found)
        fallback.extend(spare)
    models = [ModelRequest(ref, None, where) for ref, where in (primary or fallback)]
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


def _strip_tag(image: str) -> str:
    image = image.split("@", 1)[0]
    slash = image.rfind("/")
    colon = image.rfind(":")
    return image[:colon] if colon > slash else image


def _tokens(value: object, field: str) -> list[tuple[str, str]]:
    """(token, field) pairs; an argument holding a whole shell line is split like a shell."""
    tokens: list[tuple[str, str]] = []
    for index, item in enumerate(expect_list(value, field)):
        where = join_index(field, index)
        text = expect_string(item, where)
        if any(ch.isspace() for ch in text.strip()):
            try:
                parts = shlex.split(text)
            except ValueError:  # unbalanced quotes: still read the words
                parts = text.split()
            tokens.extend((part, where) for part in parts)
        else:
            tokens.append((text, where))
        if len(tokens) > _MAX_TOKENS:
            break
    return tokens[:_MAX_TOKENS]


def _scan_tokens(
    tokens: list[tuple[str, str]],
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(primary, fallback) references with the field of the argument they came from."""
    primary: list[tuple[str, str]] = []
    fallback: list[tuple[str, str]] = []
    for position, (token, where) in enumerate(tokens):
        following = tokens[position + 1][0] if position + 1 < len(tokens) else ""
        if token == "serve" and position > 0 and _is_vllm(tokens[position - 1][0]):
            # "vllm serve <model> [flags]": the model is positional.
            if not following.startswith("-") and is_reference(following):
                primary.append((following.strip(), tokens[position + 1][1]))
            continue
        flag, equals, inline = token.partition("=")
        if flag not in _MODEL_FLAGS and flag not in _FALLBACK_FLAGS:
            continue
        # "--model=x" carries its value; "--model x" takes the next token unless that is
        # itself a flag ("--model --port 8000" is a flag without a value).
        value = inline if equals else ("" if following.startswith("-") else following)
        if is_reference(value):
            (primary if flag in _MODEL_FLAGS else fallback).append((value.strip(), where))
    return primary, fallback


def _is_vllm(token: str) -> bool:
    return token == "vllm" or token.endswith("/vllm")


def _scan_env(value: object, field: str) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    primary: list[tuple[str, str]] = []
    fallback: list[tuple[str, str]] = []
    for index, item in enumerate(expect_list(value, field)):
        where = join_index(field, index)
        variable = expect_mapping(item, where)
        name = expect_string(variable.get("name"), join_key(where, "name"))
        raw = variable.get("value")
        if raw is None:
            continue  # valueFrom: a Secret or ConfigMap we cannot read offline
        text = expect_string(raw, join_key(where, "value"))
        if not is_reference(text):
            continue
        if name in _MODEL_ENV or name in _URI_ENV:
            primary.append((text.strip(), join_key(where, "value")))
        elif name in _FALLBACK_ENV:
            fallback.append((text.strip(), join_key(where, "value")))
    return primary, fallback
