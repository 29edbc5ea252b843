"""Configuration properties a controller turns into the settings of the pods it creates.

Some controllers take a flat map of properties and give their pods what the properties say:
the Spark Operator hands a SparkApplication's ``spec.sparkConf`` to spark-submit as ``--conf``,
and Spark puts ``spark.kubernetes.executor.annotation.<key>`` on each executor pod as the
annotation ``<key>``, ``spark.kubernetes.executor.node.selector.<label>`` in its nodeSelector,
and ``spark.executor.resource.<name>.amount`` (with ``.vendor``) in its container's limits as
``<vendor>/<name>``. An adapter names such a map and the key prefixes that matter (``properties``
of a pod spec rule; `PropertyRule`), and the pods are read with what the properties add:

* ``annotations``: each key under the prefix, the prefix removed, is an annotation of the pod,
  read like its own (some hand a pod a device: `device_annotations`);
* ``nodeSelectors``: each key under the prefix, the prefix removed, is a label the pod's node
  must carry, ANDed with the pod's own placement as a further hint (not merged into it): when the
  property and the spec set a label differently, which one the pod gets depends on the order a
  controller applies them, so the label pins nothing;
* ``resources``: Spark's resource properties, ``<prefix><name>.amount`` with
  ``<prefix><name>.vendor``: ``amount`` of the extended resource ``<vendor>/<name>`` ("Spark
  automatically handles translating the Spark configs spark.{driver/executor}.resource.
  {resourceType} into the kubernetes configs as long as the Kubernetes resource type follows the
  Kubernetes device plugin format of vendor-domain/resourcetype"). An amount without a vendor
  is device access: Spark refuses it only when no vendor is configured anywhere, and a vendor
  set outside the object (the submitting side's defaults) is not visible here;
* ``unreadable``: keys whose value names something the pod is built from that exportgate cannot
  read (a pod template file: ``spark.kubernetes.driver.podTemplateFile``): set, they are device
  access, narrowed by the pod's placement.

Bounded: one pass over the map per prefix, and a map that is not a mapping is named, never
passed. Values are read as they are read elsewhere (annotations as annotations, labels as
strings, amounts as Kubernetes quantities); a value that cannot be read is an error naming the
key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.extract.access import DEVICE_ACCESS
from exportgate.core.extract.paths import FieldPath, expect_mapping, join_key
from exportgate.core.extract.quantity import parse_count
from exportgate.core.extract.vocabulary import Vocabulary

_AMOUNT = ".amount"
_VENDOR = ".vendor"


@dataclass(frozen=True, slots=True)
class PrefixedMap:
    """``{from: <path>, keyPrefix: <prefix>}``: the entries of the map at `path` whose keys
    start with `prefix`, with the prefix removed (a label or annotation map a controller builds
    from properties). Resolves like a `FieldPath`, to (field, map): the field is the map's with
    the prefix as a key (``spec.sparkConf["spark.kubernetes.node.selector."]``), so a message
    names both. A map with no such key resolves to nothing."""

    path: FieldPath
    prefix: str

    def resolve(self, root: object, base: str = "") -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for where, value in self.path.resolve(root, base):
            entries = _under_prefix(expect_mapping(value, where), self.prefix)
            if entries:
                found.append((join_key(where, self.prefix), entries))
        return found


def _under_prefix(mapping: Mapping[Any, Any], prefix: str) -> dict[str, Any]:
    """The entries of `mapping` whose (string) keys start with `prefix` and say more than it."""
    size = len(prefix)
    return {
        key[size:]: value
        for key, value in mapping.items()
        if type(key) is str and len(key) > size and key.startswith(prefix)
    }


@dataclass(frozen=True, slots=True)
class PropertyRule:
    """``properties`` of a pod spec rule: the property map at `source` (read from the
    object's root) and the prefixes whose keys shape the rule's pods (see module doc)."""

    source: FieldPath
    annotations: tuple[str, ...] = ()
    node_selectors: tuple[str, ...] = ()
    resources: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()

    def read(self, obj: Mapping[str, Any], vocabulary: Vocabulary) -> PodProperties:
        annotations: list[tuple[str, Any]] = []
        selectors: list[tuple[str, Any]] = []
        requests: list[tuple[str, str, int]] = []
        for where, value in self.source.resolve(obj):
            mapping = expect_mapping(value, where)
            for prefix in self.annotations:
                _extend_prefixed(annotations, mapping, where, prefix)
            for prefix in self.node_selectors:
                _extend_prefixed(selectors, mapping, where, prefix)
            for prefix in self.resources:
                requests.extend(_resources(mapping, where, prefix, vocabulary))
            for key in self.unreadable:
                if _holds_something(mapping.get(key)):
                    requests.append((join_key(where, key), DEVICE_ACCESS, 1))
        return PodProperties(tuple(annotations), tuple(selectors), tuple(requests))


@dataclass(frozen=True, slots=True)
class PodProperties:
    """What a `PropertyRule` adds to its pods: annotation maps and node selectors as (field,
    map), accelerator requests as (field, resource, count)."""

    annotations: tuple[tuple[str, Any], ...] = ()
    selectors: tuple[tuple[str, Any], ...] = ()
    requests: tuple[tuple[str, str, int], ...] = ()


NO_PROPERTIES = PodProperties()


def _extend_prefixed(
    found: list[tuple[str, Any]], mapping: Mapping[Any, Any], where: str, prefix: str
) -> None:
    entries = _under_prefix(mapping, prefix)
    if entries:
        found.append((join_key(where, prefix), entries))


def _resources(
    mapping: Mapping[Any, Any], where: str, prefix: str, vocabulary: Vocabulary
) -> list[tuple[str, str, int]]:
    """(field, resource, count) for each ``<prefix><name>.amount`` (see module doc)."""
    found: list[tuple[str, str, int]] = []
    for key, amount in _under_prefix(mapping, prefix).items():
        if not key.endswith(_AMOUNT) or len(key) == len(_AMOUNT):
            continue  # .vendor, .discoveryScript: read with their amount
        name = key[: -len(_AMOUNT)]
        field = join_key(where, prefix + key)
        count = parse_count(amount, field)
        if count == 0:
            continue
        vendor = mapping.get(prefix + name + _VENDOR)
        if not isinstance(vendor, str) or not vendor.strip():
            found.append((field, DEVICE_ACCESS, count))
            continue
        resource = f"{vendor.strip()}/{name}"
        if vocabulary.requested_accelerator(resource):
            found.append((field, resource, count))
    return found


def _holds_something(value: object) -> bool:
    """Whether a property is set: present, and not blank."""
    if value is None:
        return False
    return not (isinstance(value, str) and not value.strip())
