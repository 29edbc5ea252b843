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
  access, narrowed by the pod's placement;
* ``env``: each key under the prefix, the prefix removed, is an environment variable of the
  pod's container (``spark.executorEnv.<NAME>``), and one through which the container runtime
  hands out devices (``NVIDIA_VISIBLE_DEVICES=all``) is device access, as in a pod's ``env``;
  ``envMaps`` are further maps of such variables, read from the object's root (a Spark driver's
  ``envVars``);
* ``javaOptions``: keys whose value is the JVM options of the pod's program
  (``spark.driver.extraJavaOptions``), and ``javaOptionsFrom`` fields holding more (a Spark
  driver's ``javaOptions``): a ``-Dspark`` option in them sets Spark properties as system
  properties, which the program reads as configuration that is not in the map (the driver
  loads its system properties into its SparkConf, so ``-Dspark.executor.resource.gpu.amount=8``
  gives every executor 8 GPUs): device access, narrowed by the pod's placement;
* ``hostPathVolumes``: prefixes of host-path volumes of the pod
  (``spark.kubernetes.executor.volumes.hostPath.``): ``<prefix><name>.options.path`` is the
  host path the volume mounts, and one that reaches devices (``/dev``, the host root: the
  vocabulary's ``deviceAccess.hostPaths``) is device access, as a Pod's ``hostPath`` volume;
* ``nodeSelectors`` given as ``{keyPrefix, mayBeIgnored}``: labels the program applies only in
  some versions, which the workload chooses (Spark before 3.3.0 ignores
  ``spark.kubernetes.{driver,executor}.node.selector.*``): the pod is read both with and
  without them, so they never pin a product alone (`ignored_selectors`).

Keys are read as the program reads them. The Spark Operator hands every entry to spark-submit as
``--conf <key>=<value>``, and Spark splits that at the first ``=`` (``parseSparkConfProperty``,
``pair.split("=", 2)``; the launcher's ``--conf`` handling does the same): an entry
``"spark.kubernetes.executor.podTemplateFile=https://x/t.yaml?a": "b"`` sets
``spark.kubernetes.executor.podTemplateFile`` to ``https://x/t.yaml?a=b``. So every key is cut at
its first ``=`` before any prefix or exact key is matched (`property_entries`), and two entries
that come to the same key with different values are refused: the later ``--conf`` wins, and the
operator writes them in Go's map order, which is random. Spark trims neither keys nor
``--conf`` values (it trims values read back from its properties file, as exportgate reads
them: a blank value is unset), so nothing else is normalised.

Bounded: one pass over the map to cut its keys, one per prefix, and a map that is not a
mapping is named, never passed. Values are read as they are read elsewhere (annotations as
annotations, labels as strings, amounts as Kubernetes quantities); a value that cannot be read
is an error naming the key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.core.errors import InputError
from exportgate.core.extract.access import DEVICE_ACCESS, hands_devices
from exportgate.core.extract.paths import (
    FieldPath,
    describe_type,
    expect_mapping,
    expect_string,
    join_key,
)
from exportgate.core.extract.quantity import parse_count
from exportgate.core.extract.vocabulary import Vocabulary

_AMOUNT = ".amount"
_VENDOR = ".vendor"
_OPTIONS_PATH = ".options.path"
_SYSTEM_PROPERTIES = "-Dspark"
"""What marks JVM options that set Spark properties: SparkConf refuses executor options that
contain it with the same test (validateSettings: ``javaOpts.contains("-Dspark")``)."""

Entries = dict[str, tuple[str, Any]]
"""A property map as its program reads it: key -> (field of the entry written, value)."""


def property_entries(value: object, where: str) -> Entries:
    """The property map `value` (at `where`) with every key cut at its first ``=`` (see module
    doc). Raises `InputError` when it is no map, or when two entries set one key differently."""
    entries: Entries = {}
    for key, item in expect_mapping(value, where).items():
        if type(key) is not str:
            continue  # no program reads a key that is not a string (nor would the API accept it)
        field = join_key(where, key)
        name, cut, rest = key.partition("=")
        if cut:
            item = f"{rest}={_text(item, field)}"
        seen = entries.get(name)
        if seen is None:
            entries[name] = (field, item)
        elif seen[1] != item:
            raise InputError(
                f"{seen[0]} and this entry both set the property {name!r}, to different "
                "values; the program splits each key at its first '=', and which entry it "
                "reads last is not fixed, so the value it uses cannot be known",
                field=field,
                hint="set each property once, with no '=' in its key",
            )
    return entries


def _text(value: object, field: str) -> str:
    """A property value as the text the controller writes after ``<key>=``."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    raise InputError(
        f"expected a string, found {describe_type(value)}",
        field=field,
        hint="property values are strings",
    )


@dataclass(frozen=True, slots=True)
class PrefixedMap:
    """``{from: <path>, keyPrefix: <prefix>}``: the entries of the map at `path` whose keys
    start with `prefix`, with the prefix removed (a label or annotation map a controller builds
    from properties). Resolves like a `FieldPath`, to (field, map): the field is the map's with
    the prefix as a key (``spec.sparkConf["spark.kubernetes.node.selector."]``), so a message
    names both. A map with no such key resolves to nothing. `ignored_note` (``mayBeIgnored``):
    the labels may not be applied, and why (see module doc)."""

    path: FieldPath
    prefix: str
    ignored_note: str = ""

    def resolve(self, root: object, base: str = "") -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []
        for where, value in self.path.resolve(root, base):
            entries = _under_prefix(property_entries(value, where), self.prefix)
            if entries:
                found.append((join_key(where, self.prefix), _values(entries)))
        return found


def _under_prefix(entries: Entries, prefix: str) -> Entries:
    """The entries whose keys start with `prefix` and say more than it, the prefix removed."""
    size = len(prefix)
    return {
        key[size:]: entry
        for key, entry in entries.items()
        if len(key) > size and key.startswith(prefix)
    }


def _values(entries: Entries) -> dict[str, Any]:
    return {key: value for key, (_, value) in entries.items()}


@dataclass(frozen=True, slots=True)
class PropertyRule:
    """``properties`` of a pod spec rule: the property map at `source` (read from the
    object's root) and the prefixes whose keys shape the rule's pods (see module doc)."""

    source: FieldPath
    annotations: tuple[str, ...] = ()
    node_selectors: tuple[str, ...] = ()
    ignorable_selectors: tuple[tuple[str, str], ...] = ()
    """(prefix, why) of node-selector properties the program may not apply (``mayBeIgnored``)."""
    resources: tuple[str, ...] = ()
    unreadable: tuple[str, ...] = ()
    selector_maps: tuple[FieldPath, ...] = ()
    """``nodeSelectorMaps``: label maps read from the object's root that the controller turns
    into node-selector properties (the operator writes a SparkApplication's spec.nodeSelector as
    spark.kubernetes.node.selector.*), ANDed like them."""
    env: tuple[str, ...] = ()
    env_maps: tuple[FieldPath, ...] = ()
    java_options: tuple[str, ...] = ()
    java_options_from: tuple[FieldPath, ...] = ()
    host_path_volumes: tuple[str, ...] = ()

    def read(self, obj: Mapping[str, Any], vocabulary: Vocabulary) -> PodProperties:
        annotations: list[tuple[str, Any]] = []
        selectors: list[tuple[str, Any]] = []
        ignorable: list[tuple[str, Any, str]] = []
        requests: list[tuple[str, str, int]] = []
        access = vocabulary.device_access
        for where, value in self.source.resolve(obj):
            entries = property_entries(value, where)
            for prefix in self.annotations:
                _extend_prefixed(annotations, entries, where, prefix)
            for prefix in self.node_selectors:
                _extend_prefixed(selectors, entries, where, prefix)
            for prefix, why in self.ignorable_selectors:
                under = _under_prefix(entries, prefix)
                if under:
                    ignorable.append((join_key(where, prefix), _values(under), why))
            for prefix in self.resources:
                requests.extend(_resources(entries, where, prefix, vocabulary))
            for key in self.unreadable:
                field, set_to = entries.get(key, ("", None))
                if _holds_something(set_to):
                    requests.append((field, DEVICE_ACCESS, 1))
            for prefix in self.env:
                requests.extend(
                    (field, DEVICE_ACCESS, 1)
                    for name, (field, set_to) in _under_prefix(entries, prefix).items()
                    if hands_devices(name, set_to, access)
                )
            for prefix in self.host_path_volumes:
                requests.extend(
                    (field, DEVICE_ACCESS, 1)
                    for key, (field, path) in _under_prefix(entries, prefix).items()
                    if key.endswith(_OPTIONS_PATH)
                    and isinstance(path, str)
                    and access.host_path(path)
                )
            for key in self.java_options:
                field, set_to = entries.get(key, ("", None))
                if set_to is not None and _SYSTEM_PROPERTIES in _text(set_to, field):
                    requests.append((field, DEVICE_ACCESS, 1))
        for path in self.selector_maps:
            selectors.extend(path.resolve(obj))
        for path in self.env_maps:
            for where, value in path.resolve(obj):
                requests.extend(
                    (join_key(where, str(name)), DEVICE_ACCESS, 1)
                    for name, set_to in expect_mapping(value, where).items()
                    if hands_devices(name, set_to, access)
                )
        for path in self.java_options_from:
            for where, value in path.resolve(obj):
                if _SYSTEM_PROPERTIES in expect_string(value, where):
                    requests.append((where, DEVICE_ACCESS, 1))
        return PodProperties(
            tuple(annotations), tuple(selectors), tuple(requests), tuple(ignorable)
        )


@dataclass(frozen=True, slots=True)
class PodProperties:
    """What a `PropertyRule` adds to its pods: annotation maps and node selectors as (field,
    map), accelerator requests as (field, resource, count), and node selectors the program may
    not apply as (field, map, why)."""

    annotations: tuple[tuple[str, Any], ...] = ()
    selectors: tuple[tuple[str, Any], ...] = ()
    requests: tuple[tuple[str, str, int], ...] = ()
    ignorable_selectors: tuple[tuple[str, Any, str], ...] = ()


NO_PROPERTIES = PodProperties()


def _extend_prefixed(
    found: list[tuple[str, Any]], entries: Entries, where: str, prefix: str
) -> None:
    under = _under_prefix(entries, prefix)
    if under:
        found.append((join_key(where, prefix), _values(under)))


def _resources(
    entries: Entries, where: str, prefix: str, vocabulary: Vocabulary
) -> list[tuple[str, str, int]]:
    """(field, resource, count) for each ``<prefix><name>.amount`` (see module doc)."""
    found: list[tuple[str, str, int]] = []
    for key, (field, amount) in _under_prefix(entries, prefix).items():
        if not key.endswith(_AMOUNT) or len(key) == len(_AMOUNT):
            continue  # .vendor, .discoveryScript: read with their amount
        name = key[: -len(_AMOUNT)]
        count = parse_count(amount, field)
        if count == 0:
            continue
        vendor = entries.get(prefix + name + _VENDOR, ("", None))[1]
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
