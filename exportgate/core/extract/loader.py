"""Reading adapter files: YAML -> schema check -> compiled `Adapter`s.

Errors name the file, the line and the field (``adapters[2].podSpecs[0].path``), because the
person reading them is a platform engineer who just wrote the file. Line numbers come from the
YAML node tree (`yaml.compose`), which is walked along the failing field's path.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from exportgate.core.documents import compose_single
from exportgate.core.errors import InputError
from exportgate.core.extract.adapters import (
    ACCELERATOR_PARSERS,
    AcceleratorRule,
    Adapter,
    Condition,
    HintRule,
    ModelRule,
    PodSpecRule,
    SchedulingRule,
    VolumeRule,
    scalar_text,
)
from exportgate.core.extract.count_keys import CountKey
from exportgate.core.extract.paths import FieldPath, PathSyntaxError, compile_path
from exportgate.core.extract.properties import PrefixedMap, PropertyRule
from exportgate.core.extract.schema import ADAPTER_SET_SCHEMA

_VALIDATOR = jsonschema.Draft202012Validator(ADAPTER_SET_SCHEMA)
_FieldPath = tuple[str | int, ...]


@dataclass(frozen=True, slots=True)
class AdapterSet:
    """One adapter file, compiled: its adapters and its additions to the vocabulary."""

    name: str
    source: str
    adapters: tuple[Adapter, ...] = ()
    accelerator_resources: tuple[str, ...] = ()
    ignored_resources: tuple[str, ...] = ()
    standard_resources: tuple[str, ...] = ()
    hint_keys: Mapping[str, str] = field(default_factory=dict)
    dra_device_classes: tuple[str, ...] = ()
    suspect_resources: tuple[str, ...] = ()
    suspect_label_keys: tuple[str, ...] = ()
    device_access: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    nested_resource_maps: tuple[str, ...] = ()
    resource_count_keys: tuple[CountKey, ...] = ()
    pod_spec_keys: tuple[str, ...] = ()
    pod_annotation_keys: tuple[str, ...] = ()
    runtime_class_keys: tuple[str, ...] = ()
    pod_container_keys: tuple[str, ...] = ()


def load_adapter_file(path: str | Path) -> AdapterSet:
    """Read and compile one adapter file; InputError names the file, line and field."""
    source = str(path)
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise InputError(
            f"cannot read adapter file: {error.strerror or error}",
            source=source,
            hint="check the path and its permissions",
        ) from error
    except UnicodeDecodeError as error:
        raise InputError(
            "adapter file is not UTF-8 text", source=source, hint="save it as UTF-8"
        ) from error
    return parse_adapter_text(text, source)


def parse_adapter_text(text: str, source: str = "<adapters>") -> AdapterSet:
    """Compile adapter YAML held in memory (from a file, a ConfigMap, a test)."""
    document, root = _parse_yaml(text, source)
    locate = _Locator(root, source)
    errors = sorted(_VALIDATOR.iter_errors(document), key=lambda e: list(e.absolute_path))
    if errors:
        raise _schema_error(errors[0], locate, len(errors))
    return _Compiler(document, locate, source).compile()


def _parse_yaml(text: str, source: str) -> tuple[Any, yaml.Node]:
    # The shared bounded reader: depth- and alias-capped like every other document.
    document, node = compose_single(text, source)
    if node is None:
        raise InputError(
            "adapter file is empty",
            source=source,
            line=1,
            hint="start from an example in docs/policies.md",
        )
    return document, node


def _schema_error(error: jsonschema.ValidationError, locate: _Locator, total: int) -> InputError:
    path: _FieldPath = tuple(error.absolute_path)
    message = error.message
    if error.validator == "additionalProperties" and isinstance(error.instance, Mapping):
        schema = error.schema if isinstance(error.schema, Mapping) else {}
        allowed = schema.get("properties", {})
        extra = sorted(str(key) for key in error.instance if key not in allowed)
        if extra:
            path = (*path, extra[0])
            message = f"unknown field {extra[0]!r}; allowed here: {', '.join(sorted(allowed))}"
    elif error.validator == "oneOf" and error.context:
        best = min(error.context, key=lambda sub: len(list(sub.absolute_path)))
        message = best.message
    more = f" ({total - 1} more problem(s) after fixing this one)" if total > 1 else ""
    return InputError(
        message + more,
        source=locate.source,
        line=locate.line(path),
        field=_render(path) or None,
        hint="see docs/policies.md for the adapter file format",
    )


class _Locator:
    """Line numbers for field paths, by walking the composed YAML node tree."""

    def __init__(self, root: yaml.Node, source: str) -> None:
        self.root = root
        self.source = source

    def line(self, path: _FieldPath) -> int:
        node = self.root
        key: yaml.Node | None = None
        for step in path:
            found = self._child(node, step)
            if found is None:
                break
            key, node = found
        # A block value starts on the line after its key; the key is what the reader looks for.
        anchor = key if key is not None and not isinstance(node, yaml.ScalarNode) else node
        return int(anchor.start_mark.line) + 1

    @staticmethod
    def _child(node: yaml.Node, step: str | int) -> tuple[yaml.Node | None, yaml.Node] | None:
        if isinstance(node, yaml.MappingNode):
            for key, value in node.value:
                if key.value == step:
                    return key, value
        elif (
            isinstance(node, yaml.SequenceNode)
            and isinstance(step, int)
            and 0 <= step < len(node.value)
        ):
            return None, node.value[step]
        return None

    def error(self, path: _FieldPath, message: str, hint: str) -> InputError:
        return InputError(
            message, source=self.source, line=self.line(path), field=_render(path), hint=hint
        )


def _render(path: _FieldPath) -> str:
    text = ""
    for step in path:
        text += f"[{step}]" if isinstance(step, int) else (f".{step}" if text else str(step))
    return text


class _Compiler:
    """Schema-valid document -> AdapterSet, with the checks a schema cannot make."""

    def __init__(self, document: Mapping[str, Any], locate: _Locator, source: str) -> None:
        self.document = document
        self.locate = locate
        self.source = source

    def compile(self) -> AdapterSet:
        vocabulary = self.document.get("vocabulary") or {}
        adapters = tuple(self._adapters())
        hint_keys = {
            entry["key"]: entry["meaning"] for entry in vocabulary.get("productHintKeys", [])
        }
        return AdapterSet(
            name=self.document["metadata"]["name"],
            source=self.source,
            adapters=adapters,
            accelerator_resources=tuple(vocabulary.get("acceleratorResources", [])),
            ignored_resources=tuple(vocabulary.get("ignoredResources", [])),
            standard_resources=tuple(vocabulary.get("standardResources", [])),
            hint_keys=hint_keys,
            dra_device_classes=tuple(vocabulary.get("draDeviceClasses", [])),
            suspect_resources=tuple(vocabulary.get("suspectResources", [])),
            suspect_label_keys=tuple(vocabulary.get("suspectLabelKeys", [])),
            device_access={
                key: tuple(values) for key, values in (vocabulary.get("deviceAccess") or {}).items()
            },
            nested_resource_maps=tuple(vocabulary.get("nestedResourceMaps", [])),
            pod_spec_keys=tuple(vocabulary.get("podSpecKeys", [])),
            pod_annotation_keys=tuple(vocabulary.get("podAnnotationKeys", [])),
            runtime_class_keys=tuple(vocabulary.get("runtimeClassKeys", [])),
            pod_container_keys=tuple(vocabulary.get("podContainerKeys", [])),
            resource_count_keys=tuple(
                CountKey(
                    entry["key"],
                    entry["resourceFrom"],
                    entry["default"],
                    tuple(entry.get("ignoredIn", [])),
                )
                for entry in vocabulary.get("resourceCountKeys", [])
            ),
        )

    def _adapters(self) -> Iterator[Adapter]:
        seen: dict[tuple[str, str], int] = {}
        for index, entry in enumerate(self.document.get("adapters") or []):
            where: _FieldPath = ("adapters", index)
            for kind_index, kind in enumerate(entry.get("kinds", [])):
                identity = (entry["group"], kind)
                if identity in seen and entry.get("versions") is None:
                    raise self.locate.error(
                        (*where, "kinds", kind_index),
                        f"{kind} in group {entry['group']!r} is already described by "
                        f"adapters[{seen[identity]}]",
                        "describe each kind once per file, or split them by versions",
                    )
                seen[identity] = index
            yield self._adapter(entry, where)

    def _adapter(self, entry: Mapping[str, Any], where: _FieldPath) -> Adapter:
        pod_specs = [
            self._pod_template(item, (*where, "podTemplates", i))
            for i, item in enumerate(entry.get("podTemplates", []))
        ]
        for i, spec in enumerate(entry.get("podSpecs", [])):
            pod_specs.append(self._pod_spec(spec, (*where, "podSpecs", i)))
        accelerators = [
            self._accelerator(rule, (*where, "accelerators", i))
            for i, rule in enumerate(entry.get("accelerators", []))
        ]
        models = [
            self._model(rule, (*where, "models", i))
            for i, rule in enumerate(entry.get("models", []))
        ]
        versions = entry.get("versions")
        return Adapter(
            group=entry["group"],
            kinds=tuple(entry.get("kinds", ())),
            kind_pattern=self._kind_pattern(entry, where),
            versions=tuple(versions) if versions else None,
            pod_specs=tuple(pod_specs),
            accelerators=tuple(accelerators),
            models=tuple(models),
            cluster_scoped=entry.get("scope", "Namespaced") == "Cluster",
            generic=entry.get("generic", False),
            description=entry.get("description", ""),
            origin=f"{self.source}:{self.locate.line(where)}",
        )

    def _kind_pattern(self, entry: Mapping[str, Any], where: _FieldPath) -> re.Pattern[str] | None:
        if ("kinds" in entry) == ("kindPattern" in entry):
            raise self.locate.error(
                where,
                "an adapter needs exactly one of kinds and kindPattern",
                "name the kinds it describes, or give a kindPattern for the group's other kinds",
            )
        if "kindPattern" not in entry:
            return None
        try:
            return re.compile(entry["kindPattern"])
        except re.error as error:
            raise self.locate.error(
                (*where, "kindPattern"),
                f"bad regular expression: {error}",
                "kindPattern is a regular expression matched against the whole kind name",
            ) from None

    def _pod_template(self, item: str | Mapping[str, Any], where: _FieldPath) -> PodSpecRule:
        """A pod template path, or ``{path, annotations}``: annotation maps a controller adds
        to every pod of the template, read from the object's root (a SeldonDeployment's
        ``spec.annotations``)."""
        if isinstance(item, str):
            return PodSpecRule(self._path(item, where), template=True)
        return PodSpecRule(
            self._path(item["path"], (*where, "path")),
            annotations=self._paths(item.get("annotations", []), (*where, "annotations")),
            template=True,
        )

    def _pod_spec(self, spec: str | Mapping[str, Any], where: _FieldPath) -> PodSpecRule:
        if isinstance(spec, str):
            return PodSpecRule(self._path(spec, where))
        return PodSpecRule(
            path=self._path(spec["path"], (*where, "path")),
            as_container=spec.get("asContainer", False),
            containers=self._paths(spec.get("containers", []), (*where, "containers")),
            resources=self._paths(spec.get("resources", []), (*where, "resources")),
            scheduling_from=tuple(
                self._scheduling(item, (*where, "schedulingFrom", i))
                for i, item in enumerate(spec.get("schedulingFrom", []))
            ),
            pins=tuple(
                HintRule(pin["key"], self._path(pin["from"], (*where, "pins", i, "from")))
                for i, pin in enumerate(spec.get("pins", []))
            ),
            annotations=self._paths(spec.get("annotations", []), (*where, "annotations")),
            own_annotations=self._paths(spec.get("ownAnnotations", []), (*where, "ownAnnotations")),
            properties=self._properties(spec.get("properties"), (*where, "properties")),
            volumes=self._volumes(spec.get("volumes"), (*where, "volumes")),
        )

    def _volumes(self, item: Mapping[str, Any] | None, where: _FieldPath) -> VolumeRule | None:
        if item is None:
            return None
        mounted_by = item.get("mountedBy")
        return VolumeRule(
            self._path(item["from"], (*where, "from")),
            None if mounted_by is None else self._path(mounted_by, (*where, "mountedBy")),
        )

    def _properties(self, item: Mapping[str, Any] | None, where: _FieldPath) -> PropertyRule | None:
        if item is None:
            return None
        selectors = item.get("nodeSelectors", ())
        return PropertyRule(
            source=self._path(item["from"], (*where, "from")),
            annotations=tuple(item.get("annotations", ())),
            node_selectors=tuple(s for s in selectors if isinstance(s, str)),
            ignorable_selectors=tuple(
                (s["keyPrefix"], s["mayBeIgnored"]) for s in selectors if not isinstance(s, str)
            ),
            resources=tuple(item.get("resources", ())),
            unreadable=tuple(item.get("unreadable", ())),
            selector_maps=self._paths(
                item.get("nodeSelectorMaps", []), (*where, "nodeSelectorMaps")
            ),
            env=tuple(item.get("env", ())),
            env_maps=self._paths(item.get("envMaps", []), (*where, "envMaps")),
            java_options=tuple(item.get("javaOptions", ())),
            java_options_from=self._paths(
                item.get("javaOptionsFrom", []), (*where, "javaOptionsFrom")
            ),
            host_path_volumes=tuple(item.get("hostPathVolumes", ())),
        )

    def _map_sources(
        self, items: Sequence[str | Mapping[str, Any]], where: _FieldPath
    ) -> tuple[FieldPath | PrefixedMap, ...]:
        """Label-map fields, or ``{from, keyPrefix}``: the keys of a property map under a
        prefix (`PrefixedMap`)."""
        return tuple(
            self._path(item, (*where, i))
            if isinstance(item, str)
            else PrefixedMap(
                self._path(item["from"], (*where, i, "from")),
                item["keyPrefix"],
                item.get("mayBeIgnored", ""),
            )
            for i, item in enumerate(items)
        )

    def _scheduling(self, item: str | Mapping[str, Any], where: _FieldPath) -> SchedulingRule:
        if isinstance(item, str):
            return SchedulingRule(self._path(item, where))
        return SchedulingRule(
            each=self._path(item["each"], (*where, "each")),
            select=self._optional(item.get("select"), (*where, "select")),
            when=self._optional(item.get("when"), (*where, "when")),
            values=tuple(item.get("in", ())),
        )

    def _accelerator(self, rule: Mapping[str, Any], where: _FieldPath) -> AcceleratorRule:
        declared = [key for key in ("parser", "resource", "resourceFrom") if key in rule]
        if len(declared) != 1:
            raise self.locate.error(
                where,
                "an accelerator rule needs exactly one of parser, resource, resourceFrom"
                + (f" (found {', '.join(declared)})" if declared else ""),
                "name the resource (resource: nodepool), read it from a field "
                "(resourceFrom: <path>), or hand the element to a parser",
            )
        if "parser" in rule:
            if rule["parser"] not in ACCELERATOR_PARSERS:
                raise self.locate.error(
                    (*where, "parser"),
                    f"unknown parser {rule['parser']!r}",
                    "available parsers: " + ", ".join(sorted(ACCELERATOR_PARSERS)),
                )
            extra = sorted(set(rule) - {"parser", "each"})
            if extra:
                raise self.locate.error(
                    (*where, extra[0]),
                    f"{extra[0]} cannot be combined with parser",
                    "a parser reads the whole element named by each",
                )
        if "count" in rule and "countFrom" in rule:
            raise self.locate.error(
                (*where, "countFrom"),
                "count and countFrom cannot both be set",
                "count is the default used when countFrom finds nothing; keep one",
            )
        return AcceleratorRule(
            each=self._optional(rule.get("each"), (*where, "each")),
            parser=rule.get("parser"),
            resource=rule.get("resource"),
            resource_from=self._optional(rule.get("resourceFrom"), (*where, "resourceFrom")),
            count=rule.get("count", 1),
            count_from=self._optional(rule.get("countFrom"), (*where, "countFrom")),
            hints=tuple(
                self._hint(hint, (*where, "hints", i))
                for i, hint in enumerate(rule.get("hints", []))
            ),
            requirements=self._paths(rule.get("requirements", []), (*where, "requirements")),
            instance_keys=(frozenset(rule["instanceKeys"]) if "instanceKeys" in rule else None),
            applied_labels=self._paths(rule.get("appliedLabels", []), (*where, "appliedLabels")),
            node_selectors=self._map_sources(
                rule.get("nodeSelectors", []), (*where, "nodeSelectors")
            ),
            require_hints=rule.get("requireHints", False),
            when=tuple(
                self._condition(item, (*where, "when", i))
                for i, item in enumerate(rule.get("when", []))
            ),
            provisions=rule.get("provisions", ""),
            operator_defined=rule.get("operatorDefined", ""),
        )

    def _condition(self, item: Mapping[str, Any], where: _FieldPath) -> Condition:
        source = self._path(item["field"], (*where, "field"))
        if "absent" in item:
            return Condition(source=source, absent=item["absent"])
        negate = "notIn" in item
        values = item["notIn"] if negate else item["in"]
        return Condition(
            source=source,
            values=frozenset(scalar_text(v, f"when.{'notIn' if negate else 'in'}") for v in values),
            negate=negate,
        )

    def _hint(self, hint: Mapping[str, Any], where: _FieldPath) -> HintRule:
        matching = hint.get("matching")
        try:
            pattern = re.compile(matching) if matching is not None else None
        except re.error as error:
            raise self.locate.error(
                (*where, "matching"),
                f"bad regular expression: {error}",
                "matching is a Python regular expression searched in each value (its group "
                "named value, if it has one, is the hint)",
            ) from None
        source = hint["from"]
        if isinstance(source, str):
            return HintRule(hint["key"], self._path(source, (*where, "from")), pattern)
        # A list: the values of those fields joined into one (a PCI vendorId:deviceId pair).
        first, *rest = (self._path(text, (*where, "from", i)) for i, text in enumerate(source))
        return HintRule(hint["key"], first, pattern, joined=tuple(rest))

    def _model(self, rule: Mapping[str, Any], where: _FieldPath) -> ModelRule:
        if "provider" in rule and "providerFrom" in rule:
            raise self.locate.error(
                (*where, "providerFrom"),
                "provider and providerFrom cannot both be set",
                "provider is a fixed name; providerFrom reads it from a field",
            )
        return ModelRule(
            path=self._path(rule["path"], (*where, "path")),
            parse=rule["parse"],
            provider=rule.get("provider"),
            provider_from=self._optional(rule.get("providerFrom"), (*where, "providerFrom")),
            fallback=rule.get("fallback", False),
        )

    def _paths(self, texts: Sequence[str], where: _FieldPath) -> tuple[FieldPath, ...]:
        return tuple(self._path(text, (*where, i)) for i, text in enumerate(texts))

    def _optional(self, text: str | None, where: _FieldPath) -> FieldPath | None:
        return None if text is None else self._path(text, where)

    def _path(self, text: str, where: _FieldPath, written: str | None = None) -> FieldPath:
        try:
            return compile_path(text)
        except PathSyntaxError as error:
            shown = str(error) if written is None else str(error).replace(text, written)
            raise self.locate.error(
                where,
                f"bad path: {shown}",
                'paths look like spec.template, spec.groups[*].template or a["b.c/d"]',
            ) from None
