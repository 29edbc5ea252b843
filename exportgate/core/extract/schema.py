"""The JSON Schema of adapter files (``kind: AdapterSet``).

Every object is closed (``additionalProperties: false``) so that a misspelt key is an error with
a line number rather than a silently ignored rule. Checks a schema cannot express well (path
syntax, "resource or resourceFrom, not both", parser names) are made by `loader` afterwards.
See docs/policies.md for the format in prose.
"""

from __future__ import annotations

from typing import Any

from exportgate.core.extract.models import MODEL_PARSERS

API_VERSION = "exportgate.dev/v1alpha1"
KIND = "AdapterSet"

# What a product-hint label says; the catalogue resolves hints by meaning, not by key.
HINT_MEANINGS = (
    "product",  # a product name: NVIDIA-H100-80GB-HBM3, h100, nvidia-h100-80gb, NVIDIA H200
    "architecture",  # a GPU architecture: hopper, ampere
    "manufacturer",  # nvidia, amd, habana, aws
    "instance-type",  # a cloud instance/VM/machine type: p5.48xlarge, Standard_ND96isr_H100_v5
    "instance-family",  # p5, g6e, NC, a3
    "instance-category",  # p, g, inf, trn, N
    "accelerator-count",  # devices per node
    "accelerator-class",  # an export class the provider labels nodes with: 3A090.a
    "pci-device",  # a VM's PCI device: vendor:device id (4318:7864, 0x10de:0x1eb8) or vGPU type
)

_STRING = {"type": "string", "minLength": 1}
_PATH = {"type": "string", "minLength": 1, "description": "a field path, see docs/policies.md"}
_PATHS = {"type": "array", "items": _PATH}
_STRINGS = {"type": "array", "items": _STRING, "uniqueItems": True}
_PREFIXED_MAP = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from", "keyPrefix"],
    "description": "the keys of the property map at `from` that start with `keyPrefix`, the "
    "prefix removed (Spark's spark.kubernetes.node.selector.<label>)",
    "properties": {"from": _PATH, "keyPrefix": _STRING, "mayBeIgnored": _STRING},
}
_MAY_BE_IGNORED = {
    **_STRING,
    "description": "the controller applies these labels only in some versions, which the "
    "workload chooses: why, and where to pin instead. The request is read with and without "
    "them, so they never pin a product alone (exportgate/core/ignored_selectors.py)",
}
_PROPERTIES = {
    "type": "object",
    "additionalProperties": False,
    "required": ["from"],
    "description": "a flat property map (read from the object's root) whose keys the "
    "controller turns into settings of the rule's pods; each list holds key prefixes (exact "
    "keys for unreadable): see exportgate/core/extract/properties.py",
    "properties": {
        "from": _PATH,
        "annotations": _STRINGS,
        "nodeSelectors": {
            "type": "array",
            "items": {
                "oneOf": [
                    _STRING,
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["keyPrefix", "mayBeIgnored"],
                        "properties": {"keyPrefix": _STRING, "mayBeIgnored": _MAY_BE_IGNORED},
                    },
                ]
            },
        },
        "resources": {
            **_STRINGS,
            "description": "Spark resource prefixes: <prefix><name>.amount of <vendor>/<name>",
        },
        "unreadable": {
            **_STRINGS,
            "description": "keys naming what the pod is built from that exportgate cannot "
            "read (a pod template file): set, they are device access",
        },
        "nodeSelectorMaps": {
            **_PATHS,
            "description": "label maps read from the object's root that the controller turns "
            "into node-selector properties (a SparkApplication's spec.nodeSelector)",
        },
        "env": {
            **_STRINGS,
            "description": "prefixes of environment variables of the pod (spark.executorEnv.): "
            "a device variable (NVIDIA_VISIBLE_DEVICES) is device access",
        },
        "envMaps": {
            **_PATHS,
            "description": "maps of environment variables of the pod, NAME: value, read from "
            "the object's root (a Spark driver's envVars)",
        },
        "javaOptions": {
            **_STRINGS,
            "description": "keys whose value is JVM options of the pod's program: a -Dspark "
            "option sets properties not in the map, and is device access",
        },
        "javaOptionsFrom": {
            **_PATHS,
            "description": "fields holding more such JVM options, read from the object's root "
            "(a Spark driver's javaOptions)",
        },
        "hostPathVolumes": {
            **_STRINGS,
            "description": "prefixes of host-path volumes of the pod "
            "(spark.kubernetes.executor.volumes.hostPath.): <prefix><name>.options.path "
            "reaching devices (/dev) is device access",
        },
    },
}
_SCALARS = {
    "type": "array",
    "minItems": 1,
    "items": {"type": ["string", "boolean", "number"]},
}

_POD_SPEC = {
    "oneOf": [
        _PATH,
        {
            "type": "object",
            "additionalProperties": False,
            "required": ["path"],
            "properties": {
                "path": _PATH,
                "asContainer": {
                    "type": "boolean",
                    "description": "the element at path is also its pod's main container: "
                    "its env, securityContext, command, args, image and resources are read as "
                    "a container's (a NIMService's spec, a Spark driver's SparkPodSpec)",
                },
                "containers": _PATHS,
                "resources": _PATHS,
                "annotations": _PATHS,
                "ownAnnotations": _PATHS,
                "properties": _PROPERTIES,
                "volumes": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["from"],
                    "description": "volumes read from the object's root that the controller "
                    "adds to the rule's pods; with mountedBy (names under the element), only "
                    "those it mounts. A host path reaching devices is device access",
                    "properties": {"from": _PATH, "mountedBy": _PATH},
                },
                "schedulingFrom": {
                    "type": "array",
                    "items": {
                        "oneOf": [
                            _PATH,
                            {
                                "type": "object",
                                "additionalProperties": False,
                                "required": ["each"],
                                "properties": {
                                    "each": _PATH,
                                    "select": _PATH,
                                    "when": _PATH,
                                    "in": _STRINGS,
                                },
                            },
                        ]
                    },
                },
                "pins": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "from"],
                        "properties": {"key": _STRING, "from": _PATH},
                    },
                },
            },
        },
    ]
}

_ACCELERATOR = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "each": _PATH,
        "parser": _STRING,
        "resource": _STRING,
        "resourceFrom": _PATH,
        "count": {"type": "integer", "minimum": 0},
        "countFrom": _PATH,
        "hints": {
            "type": "array",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["key", "from"],
                "properties": {
                    "key": _STRING,
                    "from": {
                        "description": "a field path, or a list of them whose values (strings "
                        "or integers) are joined with ':' into one value, such as a PCI "
                        "vendorId:deviceId pair",
                        # One type list rather than oneOf, so an error names the real problem.
                        "type": ["string", "array"],
                        "minLength": 1,
                        "items": _PATH,
                        "minItems": 2,
                    },
                    "matching": _STRING,
                },
            },
        },
        "requirements": _PATHS,
        "instanceKeys": {
            **_STRINGS,
            "description": "requirement keys the provisioner resolves from instance data; a "
            "requirement on any other key is a label it puts on its nodes and limits nothing",
        },
        "appliedLabels": {
            **_PATHS,
            "description": "label maps the provisioner puts on the nodes it launches",
        },
        "nodeSelectors": {"type": "array", "items": {"oneOf": [_PATH, _PREFIXED_MAP]}},
        "requireHints": {"type": "boolean"},
        "when": {
            "type": "array",
            "description": "conditions that must all hold for an element to make a request: "
            "the field holds one of `in` (or a value outside `notIn`); compared as trimmed, "
            "lower-cased text, so a boolean switch is `in: [true]`; or, with `absent: true`, "
            "the field holds nothing (missing, null, blank, an empty list or object)",
            "items": {
                "type": "object",
                "additionalProperties": False,
                "required": ["field"],
                "oneOf": [
                    {"required": ["in"]},
                    {"required": ["notIn"]},
                    {"required": ["absent"]},
                ],
                "properties": {
                    "field": _PATH,
                    "in": _SCALARS,
                    "notIn": _SCALARS,
                    "absent": {"type": "boolean"},
                },
            },
        },
        "provisions": {
            **_STRING,
            "description": "the feature the request stands for when it provisions nodes for "
            "workloads exportgate does not see (GKE Autopilot): the denial says so",
        },
        "operatorDefined": {
            **_STRING,
            "description": "what the names the rule reads are when a cloud's operator defines "
            "them (OpenStack flavor, vSphere VM class): the denial names the value and says that "
            "the platform team lists the names it knows in an adapter file of its own",
        },
    },
}

_MODEL = {
    "type": "object",
    "additionalProperties": False,
    "required": ["path", "parse"],
    "properties": {
        "path": _PATH,
        "parse": {"enum": sorted(MODEL_PARSERS)},  # the shapes extract/models.py reads
        "provider": _STRING,
        "providerFrom": _PATH,
        "fallback": {"type": "boolean"},
    },
}

_ADAPTER = {
    "type": "object",
    "additionalProperties": False,
    "required": ["group"],
    "properties": {
        "group": {"type": "string", "description": 'API group; "" for the core group'},
        "kinds": {**_STRINGS, "minItems": 1},
        "kindPattern": {
            "type": "string",
            "minLength": 1,
            "description": "instead of kinds: a regular expression (RE2 syntax, matched against "
            "the whole kind name) for the group's kinds that no adapter names, such as every "
            "Cluster API infrastructure kind ending in Machine",
        },
        "versions": {**_STRINGS, "minItems": 1},
        "scope": {
            "enum": ["Cluster", "Namespaced"],
            "description": "where the kinds' objects live; default Namespaced. Only a Cluster "
            "kind names its tenant with its own exportgate.dev/tenant label",
        },
        "description": {"type": "string"},
        "docs": _STRINGS,
        "generic": {
            "type": "boolean",
            "description": "also search the object for pod specs and container-shaped "
            "mappings anywhere, as for a kind without an adapter; for adapters that only add "
            "what that search cannot see (a model URL, a GPU named in a profile)",
        },
        "podTemplates": {
            "type": "array",
            "items": {
                "oneOf": [
                    _PATH,
                    {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["path"],
                        "properties": {"path": _PATH, "annotations": _PATHS},
                    },
                ]
            },
        },
        "podSpecs": {"type": "array", "items": _POD_SPEC},
        "accelerators": {"type": "array", "items": _ACCELERATOR},
        "models": {"type": "array", "items": _MODEL},
    },
}

ADAPTER_SET_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "exportgate AdapterSet",
    "type": "object",
    "additionalProperties": False,
    "required": ["apiVersion", "kind", "metadata"],
    "properties": {
        "apiVersion": {"const": API_VERSION},
        "kind": {"const": KIND},
        "metadata": {
            "type": "object",
            "additionalProperties": False,
            "required": ["name"],
            "properties": {"name": _STRING, "description": {"type": "string"}},
        },
        "vocabulary": {
            "type": "object",
            "additionalProperties": False,
            "properties": {
                "acceleratorResources": _STRINGS,
                "ignoredResources": _STRINGS,
                "standardResources": _STRINGS,
                "productHintKeys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "meaning"],
                        "properties": {
                            "key": _STRING,
                            "meaning": {"enum": list(HINT_MEANINGS)},
                            "note": {"type": "string"},
                        },
                    },
                },
                "draDeviceClasses": _STRINGS,
                "suspectResources": _STRINGS,
                "suspectLabelKeys": _STRINGS,
                "nestedResourceMaps": _STRINGS,
                "podSpecKeys": _STRINGS,
                "podAnnotationKeys": _STRINGS,
                "runtimeClassKeys": _STRINGS,
                "podContainerKeys": _STRINGS,
                "resourceCountKeys": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "additionalProperties": False,
                        "required": ["key", "resourceFrom", "default"],
                        "properties": {
                            "key": _STRING,
                            "resourceFrom": _STRING,
                            "default": _STRING,
                            "ignoredIn": _STRINGS,
                        },
                    },
                },
                "deviceAccess": {
                    "type": "object",
                    "additionalProperties": False,
                    "properties": {
                        "env": _STRINGS,
                        "offValues": _STRINGS,
                        "hostPaths": _STRINGS,
                        "runtimeClasses": _STRINGS,
                        "annotations": _STRINGS,
                        "annotationPrefixes": _STRINGS,
                        "cdiAnnotationPrefixes": _STRINGS,
                        "podVmRuntimeClasses": _STRINGS,
                        "podVmResources": _STRINGS,
                        "podVmTypeAnnotations": _STRINGS,
                        "podVmGpuAnnotations": _STRINGS,
                        "localMachineTypes": _STRINGS,
                    },
                },
            },
        },
        "adapters": {"type": "array", "items": _ADAPTER},
    },
}
