"""Pod spec patches: strings a controller merges into the pods it creates.

Argo Workflows' ``podSpecPatch`` (on a template or the whole workflow) is a JSON or YAML
document merged into the pod spec of every pod it creates. It can add an accelerator request,
a device variable, a hostPath volume or a node selector that the template's own fields do not
show, so exportgate cannot judge the pod from the template alone. Rather than read a second,
partial pod spec, a patch that touches any of those (`REACHING_KEYS`, at any depth), or that
cannot be read within bounds, is an unknown accelerator with no placement: what exportgate
cannot read it does not admit as harmless. A patch that only sets harmless fields (an
``activeDeadlineSeconds``, a container's ``name``) asks for nothing.
"""

from __future__ import annotations

from collections.abc import Mapping

from exportgate.core.documents import NotYaml, load_embedded
from exportgate.core.errors import InputError
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.limits import MAX_EMBEDDED_CHARS
from exportgate.core.types import AcceleratorRequest

POD_SPEC_PATCH = "pod spec patch"
"""Resource of the request made for a patch that may reach devices or move the pod."""

MAX_PATCH_CHARS = MAX_EMBEDDED_CHARS
"""Longest patch read; Argo patches are a few lines."""
MAX_PATCH_NODES = 5_000
"""Most values visited in one parsed patch (YAML aliases can make a short text a large tree)."""

REACHING_KEYS = frozenset(
    {
        "resources",
        "resourceClaims",
        "env",
        "envFrom",
        "volumes",
        "volumeDevices",
        "securityContext",
        "runtimeClassName",
        "ephemeralContainers",
        "nodeSelector",
        "nodeName",
        "affinity",
    }
)
"""Pod and container fields through which a patch asks for devices or moves the pod."""


def pod_spec_patch(
    value: object, field: str, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """The `ACCELERATOR_PARSERS` entry ``pod-spec-patch``: [] or one unknown request."""
    del vocabulary, dra  # the patch is not read for names: any reaching key is enough
    if value is None or (isinstance(value, str) and not value.strip()):
        return []
    unknown = [AcceleratorRequest(POD_SPEC_PATCH, 1, (), field)]
    if not isinstance(value, str):
        parsed: object = value  # a patch given as an object: judged the same way
    elif len(value) > MAX_PATCH_CHARS:
        return unknown
    else:
        try:
            parsed = load_embedded(value, field)
        except (NotYaml, InputError):  # not YAML, or past a cap (aliases, depth): unread
            return unknown
    if parsed is None:
        return []
    if not isinstance(parsed, Mapping) or _reaches(parsed):
        return unknown
    return []


def _reaches(patch: Mapping[object, object]) -> bool:
    """True when a key of `REACHING_KEYS` appears anywhere, or the patch is too large."""
    budget = MAX_PATCH_NODES
    stack: list[object] = [patch]
    while stack:
        budget -= 1
        if budget < 0:
            return True
        node = stack.pop()
        if isinstance(node, Mapping):
            if any(key in REACHING_KEYS for key in node):
                return True
            stack.extend(node.values())
        elif isinstance(node, list):
            stack.extend(node)
    return False
