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
written, so the catalogue can say it could not identify it rather than treat it as nothing. A
recognisable model server or client whose variables come from ``envFrom`` and that names no
model otherwise is reported the same way (`ENV_FROM`): its model is set at run time.
Values that name a file inside the container (``--model /mnt/models``) are references only when
the file's name names a catalogued model (``/models/Llama-4-Scout-17B-16E-Instruct``); otherwise
the real reference is wherever the file comes from (a download in an init container, a storage
URI the adapters read). Names a server only *advertises* (vLLM's ``--served-model-name``) are
aliases, never model ids.
"""

from __future__ import annotations

import ipaddress
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from exportgate.core.data import load_data
from exportgate.core.documents import NotYaml, load_embedded
from exportgate.core.errors import InputError
from exportgate.core.extract.envvars import (
    Budget,
    Environment,
    Unreadable,
    Variable,
    container_env,
    current_budget,
    environment,
    expand,
)
from exportgate.core.extract.model_names import (
    ANY_MODEL,
    ENV_FROM,
    UNREADABLE,
    is_unreadable,
    provider_key,
)
from exportgate.core.extract.paths import (
    expect_list,
    expect_mapping,
    expect_string,
    join_index,
    join_key,
)
from exportgate.core.extract.shell_words import split_words
from exportgate.core.limits import MAX_EMBEDDED_CHARS, MAX_MODEL_FILES
from exportgate.core.types import ModelRequest

_LOCAL_PREFIXES = ("/", "./", "../", "~", "file:", "pvc://")
# Past this many tokens a command line is not a server invocation worth reading; it also caps
# the work an adversarial manifest can cause.
_MAX_TOKENS = 4096

_Found = list[tuple[str, str | None, str]]  # (reference, provider, field)
_TRUE = frozenset({"1", "true", "yes", "on"})
_INNER_SPACE = re.compile(r"\S\s+\S")  # a whole shell line in one argument
# Hosts that are certainly inside the cluster (or the pod): a Service name, its cluster DNS
# names, mDNS/.internal names. Anything else with a dot is an external host.
_IN_CLUSTER_HOST = re.compile(
    r"^[^.]+$|\.svc(\.|$)|\.cluster\.local$|\.local$|\.internal$|\.localhost$", re.IGNORECASE
)


@dataclass(frozen=True, slots=True)
class _Places:
    """Where models.yaml says containers and gateways name models."""

    vendor_env: Mapping[str, str]
    switch_env: Mapping[str, str]
    generic_env: frozenset[str]
    advertised_env: frozenset[str]
    base_url_env: Mapping[str, str]
    model_flags: frozenset[str]
    path_flags: frozenset[str]
    advertised_flags: frozenset[str]
    alias_flags: frozenset[str]
    # program -> its subcommand word sequences, longest first
    positional: Mapping[str, tuple[tuple[str, ...], ...]]
    server_images: re.Pattern[str]
    server_programs: frozenset[str]
    client_env_from: tuple[str, ...]
    model_headers: frozenset[str]
    shape_only: frozenset[str]
    vendor_hosts: tuple[tuple[re.Pattern[str], str], ...]


@cache
def _places() -> _Places:
    data = load_data("models.yaml")
    env, commands, gateways = data["environment"], data["commands"], data["gateways"]
    positional: dict[str, list[tuple[str, ...]]] = {}
    for entry in commands["positional"]:
        words = tuple(str(entry.get("subcommand") or "").split())
        positional.setdefault(str(entry["program"]), []).append(words)
    servers = commands.get("servers") or {}
    return _Places(
        vendor_env=dict(env["vendor"]),
        switch_env=dict(env["switches"]),
        generic_env=frozenset(env["generic"]),
        advertised_env=frozenset(env["advertised"]),
        base_url_env=dict(env.get("baseUrls") or {}),
        model_flags=frozenset(commands["modelFlags"]),
        path_flags=frozenset(commands.get("pathFlags") or ()),
        advertised_flags=frozenset(commands["advertisedFlags"]),
        alias_flags=frozenset(commands["aliasFlags"]),
        positional={
            program: tuple(sorted(forms, key=len, reverse=True))
            for program, forms in positional.items()
        },
        server_images=re.compile(
            "|".join(f"(?:{p})" for p in servers.get("images", ())) or "(?!)", re.IGNORECASE
        ),
        server_programs=frozenset(servers.get("programs", ())),
        client_env_from=tuple(str(n).lower() for n in servers.get("envFromNames", ())),
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


def names_model(path: str) -> bool:
    """True when a file path's last segment names a catalogued model, provider or a value set at
    run time (``/models/Llama-4-Scout-17B-16E-Instruct``, ``/models/$(MODEL)``); False for
    paths that name nothing (``/mnt/models``), which stay out of the decision."""
    from exportgate.core.models import builtin_models  # the catalogue reads this package

    last = _file_name(path)
    if not last or last in {".", "..", "~"}:
        return False
    resolved = builtin_models().resolve(ModelRequest(last))
    return bool(resolved.model_id or resolved.provider or resolved.providers)


def _file_name(path: str) -> str:
    return path.strip().rstrip("/").rsplit("/", 1)[-1].strip()


class ModelFiles:
    """`names_model` for the file paths of one pod (or one field an adapter reads): each file
    name is looked up in the catalogue once, and at most `MAX_MODEL_FILES` distinct names are,
    since each lookup runs every catalogue pattern (hundreds of ``-m /m/xN.gguf`` flags in a
    13 KB Pod took 23 ms on the webhook's event loop)."""

    __slots__ = ("_answers",)

    def __init__(self) -> None:
        self._answers: dict[str, bool] = {}

    def names_model(self, path: str) -> bool | None:
        """`names_model(path)`, or None when the cap is reached and the file was not read."""
        last = _file_name(path)
        known = self._answers.get(last)
        if known is not None:
            return known
        if len(self._answers) >= MAX_MODEL_FILES:
            return None
        found = self._answers[last] = names_model(path)
        return found

    UNREAD = UNREADABLE.format(
        what=f"the model files past the first {MAX_MODEL_FILES} in one pod (MAX_MODEL_FILES)"
    )
    """The reference of every model file past the cap (one reference, however many files):
    unidentified, so the most restrictive applies."""


def _model_value(value: str, files: ModelFiles | None = None) -> str | None:
    """The reference a model flag or positional argument names, or None: a reference, or a
    local path whose file name names a model (an unreadable reference past `MAX_MODEL_FILES`)."""
    text = value.strip()
    if is_reference(text):
        return text
    if not text:
        return None
    names = (files or ModelFiles()).names_model(text.removeprefix("pvc://").removeprefix("file:"))
    if names is None:
        return ModelFiles.UNREAD
    return text if names else None


def from_plain(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    text = expect_string(value, field).strip()
    return [ModelRequest(text, provider, field)] if text else []


def from_uri(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A storage URI, kept as written. ``pvc://`` and local paths count only when their last
    segment names a model (``pvc://models/Llama-4-Scout-17B-16E-Instruct``)."""
    text = _model_value(expect_string(value, field))
    return [ModelRequest(text, provider, field)] if text else []


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
    tokens, unread = _tokens(value, field, {})
    primary, fallback = _scan_tokens(tokens, ModelFiles())
    return [ModelRequest(ref, provider, where) for ref, where in unread + primary or fallback]


def from_shell(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A command line in one string (a RayJob ``entrypoint``), split like a shell."""
    text = expect_string(value, field)
    if not text.strip():
        return []
    tokens, unread = _tokens([text], field, {})
    primary, fallback = _scan_tokens(tokens, ModelFiles())
    return [ModelRequest(ref, provider, field) for ref, _ in unread + primary or fallback]


def from_ray_serve(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A Ray Serve config held as a YAML string (RayService ``serveConfigV2``).

    Ray Serve LLM's ``model_loading_config``: ``model_source`` is where the weights come from
    (a Hugging Face id, a bucket, a local path) and ``model_id`` the name clients use, which is
    also the source when no ``model_source`` is given (Ray, ModelLoadingConfig). Variables in
    ``runtime_env.env_vars`` are read like a container's environment. A string that is not
    YAML is not a config Ray would run, so it names nothing. One that is too large to read
    (`MAX_EMBEDDED_CHARS`) or past the document caps (aliases, depth) is an unidentified model:
    exportgate does not admit what it cannot read."""
    text = expect_string(value, field)
    if not text.strip():
        return []
    if len(text) > MAX_EMBEDDED_CHARS:
        what = f"the Ray Serve config at {field} ({len(text)} characters, cap {MAX_EMBEDDED_CHARS})"
        return [ModelRequest(UNREADABLE.format(what=what), provider, field)]
    try:
        config = load_embedded(text, field)
    except NotYaml:
        return []
    except InputError as exc:  # aliases or nesting past the caps
        what = f"the Ray Serve config at {field} ({exc.message})"
        return [ModelRequest(UNREADABLE.format(what=what), provider, field)]
    found: list[ModelRequest] = []
    fallback: list[ModelRequest] = []
    files = ModelFiles()
    for node in _mappings(config):
        loading = node.get("model_loading_config")
        if isinstance(loading, Mapping):
            source = loading.get("model_source")
            if isinstance(source, Mapping):  # a cloud mirror: {bucket_uri: s3://...}
                source = source.get("bucket_uri")
            name = source if isinstance(source, str) and source.strip() else loading.get("model_id")
            if isinstance(name, str) and (reference := _model_value(name, files)):
                found.append(ModelRequest(reference, provider, field))
        variables = node.get("env_vars")
        if isinstance(variables, Mapping):
            env = [{"name": str(k), "value": str(v)} for k, v in variables.items() if v is not None]
            primary, spare = _scan_env(container_env(env, field), files)
            found.extend(ModelRequest(r, g or provider, field) for r, g, _ in primary)
            fallback.extend(ModelRequest(r, g or provider, field) for r, g, _ in spare)
    return found or fallback


def _mappings(node: object, depth: int = 0) -> Iterable[Mapping[str, Any]]:
    """Every mapping in a parsed YAML document (bounded depth: configs are shallow)."""
    if depth > 32:
        return
    if isinstance(node, Mapping):
        yield node
        for child in node.values():
            yield from _mappings(child, depth + 1)
    elif isinstance(node, list):
        for child in node:
            yield from _mappings(child, depth + 1)


def from_env(value: object, field: str, provider: str | None) -> list[ModelRequest]:
    """A container ``env`` list: model variables (vendor SDK ones name their provider)."""
    primary, fallback = _scan_env(container_env(value, field), ModelFiles())
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
    """A gateway endpoint's host name, IP address or URL: a vendor's or platform's model API
    host (``api.anthropic.com``, ``bedrock-runtime.us-east-1.amazonaws.com``) reaches any model
    of it, whatever API schema the backend declares. An in-cluster host names nothing. A public
    IP address cannot be identified (a vendor's API answers on addresses that change), so it is
    reported as an unknown provider: any hosted provider (fail closed). Any other external host
    name is an ordinary HTTP service: Envoy Gateway Backends front httpbin, MCP tool servers
    and SaaS APIs far more often than model APIs, and a model API's host is a name exportgate
    knows (`gateways.vendorHosts`); an egress proxy named like anything else is a documented
    limit (docs/policies.md)."""
    host = _host(expect_string(value, field))
    if not host:
        return []
    reached = vendor_host(host)
    if reached is not None:
        return [ModelRequest(ANY_MODEL, reached, field)]
    address = _address(host)
    if address is None or _internal(address):
        return []
    return [ModelRequest(ANY_MODEL, host, field)]


def vendor_host(host: str) -> str | None:
    """The provider or platform whose model API `host` is (gateways.vendorHosts), or None."""
    for pattern, reached in _places().vendor_hosts:
        if pattern.fullmatch(host):
            return reached
    return None


def in_cluster_host(host: str) -> bool:
    """True for a host inside the cluster or the pod: a Service name or cluster DNS name, a
    private, loopback or link-local address."""
    address = _address(host)
    if address is None:
        return bool(_IN_CLUSTER_HOST.search(host))
    return _internal(address)


def _address(host: str) -> ipaddress.IPv4Address | ipaddress.IPv6Address | None:
    """`host` as an IP address, or None for a host name."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        return None


def _internal(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    return address.is_private or address.is_loopback or address.is_link_local


def _host(text: str) -> str:
    """``https://user@API.Anthropic.com.:443/v1`` -> ``api.anthropic.com``; ``[::1]:80`` ->
    ``::1``."""
    text = text.strip().split("://", 1)[-1].split("/", 1)[0].rsplit("@", 1)[-1]
    if text.startswith("["):  # an IPv6 literal
        return text[1:].split("]", 1)[0].lower()
    if text.count(":") == 1:
        text = text.split(":", 1)[0]
    return text.rstrip(".").lower()


ModelParser = Callable[[object, str, str | None], list[ModelRequest]]

MODEL_PARSERS: Mapping[str, ModelParser] = {
    "plain": from_plain,
    "uri": from_uri,
    "image": from_image,
    "args": from_args,
    "shell": from_shell,
    "ray-serve-config": from_ray_serve,
    "env": from_env,
    "provider": from_provider,
    "gateway-headers": from_headers,
    "host": from_host,
}
"""The shapes an adapter's ``models[].parse`` may name."""


def scan_container(
    container: Mapping[str, Any], field: str, files: ModelFiles | None = None
) -> list[ModelRequest]:
    """Every model reference in one container: flags, positional models, environment, a NIM
    image, and the ``postStart`` hook (``ollama pull llama3``). `files` are the model file
    names already looked up in the pod (`MAX_MODEL_FILES`).

    Within a container, advertised names (``--model_name``, ``MODEL_NAME``) count only when no
    flag or variable names the model itself. A value or command line that cannot be expanded
    within `MAX_EXPANDED_CHARS`/`MAX_EXPANSION_CHARS` is an unreadable model reference.
    """
    files = files if files is not None else ModelFiles()
    budget = current_budget()  # MAX_EXPANSION_CHARS, shared by every container of the object
    primary: _Found = []
    fallback: _Found = []
    env: Environment = {}
    variables: list[Variable] = []
    if container.get("env") is not None:
        variables = container_env(container["env"], join_key(field, "env"), budget)
        env = environment(variables)
        found, spare = _scan_env(variables, files)
        primary.extend(found)
        fallback.extend(spare)
    script = _shell_environment_known(container, variables)
    lines: list[tuple[object, str]] = [
        (container[key], join_key(field, key))
        for key in ("command", "args")
        if container.get(key) is not None
    ]
    hook = _post_start(container, field)
    if hook is not None:
        lines.append(hook)
    for value, where in lines:
        tokens, unread = _tokens(value, where, env, budget, script=script)
        found_tokens, spare_tokens = _scan_tokens(tokens, files)
        primary.extend((ref, None, at) for ref, at in unread)
        primary.extend((ref, None, at) for ref, at in found_tokens)
        fallback.extend((ref, None, at) for ref, at in spare_tokens)
    models = [ModelRequest(ref, provider, where) for ref, provider, where in primary or fallback]
    image = container.get("image")
    if image is not None:
        nim = nim_model(image_reference(image, join_key(field, "image")))
        if nim is not None:
            models.append(ModelRequest(nim[0], nim[1], join_key(field, "image")))
    if not models:
        models.extend(_env_from_model(container, field, lines))
    return models


# Variables that run code before a script or change how it reads: bash runs $BASH_ENV's file
# first (which may make a variable readonly), BASH_FUNC_*%% define functions (an `export` of
# one's own), SHELLOPTS/BASHOPTS turn on options such as expand_aliases, IFS splits words.
_SHELL_STARTUP = frozenset({"BASH_ENV", "ENV", "SHELLOPTS", "BASHOPTS", "IFS"})


def _shell_environment_known(container: Mapping[str, Any], variables: list[Variable]) -> bool:
    """Whether a shell this container starts begins in an environment the manifest shows: no
    ``envFrom`` (whose variables could be any of `_SHELL_STARTUP`) and none of them in ``env``.
    Only then are a script's own literal assignments read (`shell_assignments`)."""
    if container.get("envFrom"):
        return False
    return not any(v.name in _SHELL_STARTUP or v.name.startswith("BASH_FUNC_") for v in variables)


def _env_from_model(
    container: Mapping[str, Any], field: str, lines: list[tuple[object, str]]
) -> list[ModelRequest]:
    """A model server or client that names no model but takes variables from ``envFrom``: its
    model is set at run time (``MODEL_ID`` in a ConfigMap), so it is reported as unreadable.
    Containers that are not recognisably a model server or client are left alone: envFrom is
    everywhere, and most of it configures nothing about models."""
    sources = container.get("envFrom")
    if not isinstance(sources, list) or not sources:
        return []
    places = _places()
    named: list[tuple[str, str, int]] = []  # (kind, name, index)
    for index, source in enumerate(sources):
        if not isinstance(source, Mapping):
            continue
        for key, kind in (("configMapRef", "ConfigMap"), ("secretRef", "Secret")):
            ref = source.get(key)
            if isinstance(ref, Mapping):
                named.append((kind, str(ref.get("name") or ""), index))
    if not named:
        return []
    image = container.get("image")
    server = isinstance(image, str) and bool(places.server_images.search(image))
    if not server:
        for value, where in lines:
            tokens = [token for token, _ in _tokens(value, where, {})[0]]
            if any(_program(t) in places.server_programs for t in tokens):
                server = True
                break
    client = any(
        vendor in name.lower() for _, name, _ in named for vendor in places.client_env_from
    )
    if not (server or client):
        return []
    kind, name, index = named[0]
    where = join_index(join_key(field, "envFrom"), index)
    return [ModelRequest(ENV_FROM.format(kind=kind, name=name), None, where)]


def image_reference(image: object, field: str) -> str:
    """A container's image as a reference: a string, or the NIM operator's ``{repository,
    tag}`` (its containers' ``Image``, read as ``repository:tag``). Anything else is named."""
    if isinstance(image, Mapping) and isinstance(image.get("repository"), str):
        tag = image.get("tag")
        text = image["repository"].strip()
        return f"{text}:{tag.strip()}" if isinstance(tag, str) and tag.strip() else text
    return expect_string(image, field)


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


def _tokens(
    value: object,
    field: str,
    env: Environment,
    budget: Budget | None = None,
    *,
    script: bool = False,
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(token, field) pairs, ``$(VAR)`` expanded; an argument holding a whole shell line is
    split like a shell (and its ``$VAR``s expanded, as the shell would). Second, the unreadable
    references (reference, field) of shell lines that cannot be expanded within the caps: such
    a line could name a model anywhere. An argument that is one word and cannot be expanded
    keeps its text up to the first ``$`` (a ``--model=`` prefix), then an unreadable reference.
    With `script`, a shell line's own literal assignments count (`envvars.expand`)."""
    budget = budget if budget is not None else Budget()
    tokens: list[tuple[str, str]] = []
    unread: list[tuple[str, str]] = []
    for index, item in enumerate(expect_list(value, field)):
        where = join_index(field, index)
        text = expect_string(item, where)
        if _INNER_SPACE.search(text):
            try:
                line = expand(text, env, shell=True, budget=budget, script=script)
            except Unreadable as exc:
                unread.append((exc.reference(f"the command line at {where}"), where))
                continue
            parts = split_words(line)
            if parts is None:  # unbalanced quotes: still read the words
                parts = line.split()
            tokens.extend((part, where) for part in parts[: _MAX_TOKENS + 1 - len(tokens)])
        else:
            try:
                tokens.append((expand(text, env, budget=budget), where))
            except Unreadable as exc:
                reference = exc.reference(f"the argument at {where}")
                tokens.append((text[: text.index("$")] + reference, where))
        if len(tokens) > _MAX_TOKENS:
            # Words past the cap are not read, so a model flag among them would be missed:
            # what exportgate cannot read is an unidentified model, not nothing.
            what = f"the command line at {field} past its first {_MAX_TOKENS} words"
            unread.append((UNREADABLE.format(what=what), field))
            break
    return tokens[:_MAX_TOKENS], unread


def _scan_tokens(
    tokens: list[tuple[str, str]], files: ModelFiles
) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
    """(primary, fallback) references with the field of the argument they came from."""
    places = _places()
    primary: list[tuple[str, str]] = []
    fallback: list[tuple[str, str]] = []
    words = [token for token, _ in tokens]
    for position, (token, where) in enumerate(tokens):
        following = tokens[position + 1][0] if position + 1 < len(tokens) else ""
        at = _positional(words, position, places)
        if at is not None:
            # "vllm serve <model> [flags]", "lmdeploy serve api_server <model>", "hf download
            # <repo>": the model is the first word after the subcommand.
            value = _model_value(words[at], files) if not words[at].startswith("-") else None
            if value is not None:
                primary.append((value, tokens[at][1]))
            continue
        flag, equals, inline = token.partition("=")
        if flag in places.path_flags and not equals:
            # llama.cpp's "-m /models/x.gguf"; "python -m module" names a module, not a model.
            previous = _program(words[position - 1]) if position > 0 else ""
            a_file = "/" in following or following.endswith(".gguf")
            if not previous.startswith("python") and a_file:
                names = files.names_model(following)
                if names is None:
                    primary.append((ModelFiles.UNREAD, where))
                elif names:
                    primary.append((following.strip(), where))
            continue
        if flag in places.alias_flags or (
            flag not in places.model_flags and flag not in places.advertised_flags
        ):
            continue  # --served-model-name is an alias clients use, never the model
        # "--model=x" carries its value; "--model x" takes the next token unless that is
        # itself a flag ("--model --port 8000" is a flag without a value).
        value = _model_value(
            inline if equals else ("" if following.startswith("-") else following), files
        )
        if value is not None:
            (primary if flag in places.model_flags else fallback).append((value, where))
    return primary, fallback


def _positional(words: list[str], position: int, places: _Places) -> int | None:
    """When ``words[position]`` is a program whose model is positional ("vllm serve M",
    "trtllm-serve M", "python -m vllm.entrypoints.cli.main serve M"), the index of the model
    word after its subcommand; else None. The longest subcommand is tried first, so
    "trtllm-serve serve M" is never read as the model "serve"."""
    forms = places.positional.get(_program(words[position]))
    for form in forms or ():
        at = position + 1 + len(form)
        if at < len(words) and tuple(words[position + 1 : at]) == form:
            return at
    return None


def _program(token: str) -> str:
    """``/usr/local/bin/vllm`` -> ``vllm``."""
    return token.rsplit("/", 1)[-1]


def _scan_env(variables: list[Variable], files: ModelFiles) -> tuple[_Found, _Found]:
    places = _places()
    primary: _Found = []
    fallback: _Found = []
    # Vendors whose SDK is pointed at a server in the cluster: their model variables name the
    # served model, not the vendor's hosted API.
    in_cluster: set[str] = set()
    for variable in variables:
        vendor = places.base_url_env.get(variable.name)
        if vendor is None or not variable.value or is_unreadable(variable.value):
            continue  # not set, set at run time, or too long to read: no host to go by
        host = _host(variable.value)
        reached = vendor_host(host) if host else None
        if reached is not None:
            fallback.append((ANY_MODEL, reached, variable.field))
        elif host and in_cluster_host(host):
            in_cluster.add(vendor)
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
        text = f"$({name})" if value is None else _model_value(value, files)
        if text is None:
            continue
        if vendor is not None or name in places.generic_env:
            served = vendor in in_cluster and value is not None
            primary.append((text, None if served else vendor, variable.field))
        else:
            fallback.append((text, None, variable.field))
    return primary, fallback
