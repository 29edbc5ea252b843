"""Accelerator counts under a short key that names its resource in another field.

Some operators take a GPU count as ``gpu: "1"`` beside the resource it means, ``gpuType:
nvidia.com/gpu`` (NVIDIA Dynamo's ``ResourceItem``, vLLM production-stack's
``deploymentConfig.resources``), and write ``<gpuType>: <gpu>`` into the container they
create, ``nvidia.com/gpu`` when ``gpuType`` is empty. Read as written, ``gpu`` would be a
resource nobody knows (an unknown accelerator, so a T4 runtime is denied) and ``gpuType`` a
malformed count. The vocabulary's ``resourceCountKeys`` say which keys are such counts; this
module reads a resource map the way those operators do.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True, slots=True, order=True)
class CountKey:
    """``{key, resourceFrom, default, ignoredIn}`` of ``resourceCountKeys``: the count under
    `key` is of the resource named by the string under `resource_from` (`default` when that is
    absent or empty). In a resource list named in `ignored_in` (``requests``) the operator
    copies neither key into the pod: both are left out, counting nothing."""

    key: str
    resource_from: str
    default: str
    ignored_in: tuple[str, ...] = ()


def short_counts(
    resources: Mapping[Any, Any], keys: tuple[CountKey, ...], list_name: str = "limits"
) -> tuple[list[tuple[str, str, Any]], frozenset[str]]:
    """(resource, key of the count, quantity) for each count key in the map `resources`, and
    the keys read (the count and its resource name), which are no resources. `list_name`: the
    resource list the map is (``limits``, ``requests``; a flat map is read as limits).

    A resource name that is no string is not taken: it stays in the map, read as a resource of
    its own (an unknown accelerator, or a malformed count), never skipped as harmless."""
    found: list[tuple[str, str, Any]] = []
    used: set[str] = set()
    for count_key in keys:
        if list_name in count_key.ignored_in:
            # Dynamo's GetResourcesConfig copies gpu (and gpuType) from limits only: in requests
            # they reach no container. (Older operators copied requests.gpu as a request alone,
            # which the API server refuses for an extended resource without a limit.)
            used.update(k for k in (count_key.key, count_key.resource_from) if k in resources)
            continue
        named = resources.get(count_key.resource_from)
        if isinstance(named, str):
            # The operators take the name only together with a count; alone it asks nothing.
            used.add(count_key.resource_from)
        elif named is not None:
            continue
        if count_key.key not in resources or isinstance(resources[count_key.key], Mapping):
            continue
        used.add(count_key.key)
        name = named.strip() if isinstance(named, str) and named.strip() else count_key.default
        found.append((name, count_key.key, resources[count_key.key]))
    return found, frozenset(used)
