"""KubeAI resource profiles: ``<profile>:<count>`` strings that stand for accelerators.

A KubeAI ``Model`` does not carry a pod spec. ``spec.resourceProfile`` names one of the
resource profiles in KubeAI's system configuration and how many of it to use
(``nvidia-gpu-h100:8``); the profile holds the container resources, node selector and
tolerations the controller gives the model's pods. The profiles are the platform's own
configuration (the KubeAI Helm chart's ``resourceProfiles``), named by a convention KubeAI's
chart uses for its built-in ones: ``cpu``, ``nvidia-gpu-<product>``, ``amd-gpu-<product>``,
``google-tpu-<product>-<topology>``. Those names are read as the platform's word for the
hardware, the way a node's product label is; the pods the controller creates are checked at
their own admission too.

Every other profile name says nothing exportgate can read about the hardware, so it is an
unknown accelerator (fail closed): the request's resource is ``resource-profile.kubeai.org/<name>``,
which the vocabulary does not know, so the denial names the profile and tells the platform
team that a profile which is no accelerator belongs in ``ignoredResources``
(``resource-profile.kubeai.org/cpu-*``). A product part the catalogue cannot identify
(``nvidia-gpu-rtx4070-8gb``) is an unknown product of that vendor.

Source: https://github.com/kubeai-project/kubeai/blob/main/api/k8s/v1/model_types.go
(ModelSpec.ResourceProfile: "<resource-profile-name>:<count>") and
charts/kubeai/values.yaml (resourceProfiles: cpu, nvidia-gpu-t4, nvidia-gpu-l4, nvidia-gpu-h100,
nvidia-gpu-a100-80gb, amd-gpu-mi300x ...).
"""

from __future__ import annotations

import re

from exportgate.core.errors import InputError
from exportgate.core.extract.dra_refs import DraObjects
from exportgate.core.extract.paths import expect_string
from exportgate.core.extract.quantity import parse_count
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.types import AcceleratorRequest, Operator, ProductHint

PROFILE_RESOURCE_PREFIX = "resource-profile.kubeai.org/"
"""Resource of the request made for a profile whose name says nothing exportgate can read."""

PRODUCT_KEY = "exportgate.dev/product"
"""The hint key the product part of a profile name is read under (a product id or alias)."""

CPU_PROFILES = frozenset({"cpu"})
"""KubeAI's built-in profile without accelerators (requests cpu and memory only)."""

_VENDOR_PREFIXES = (
    ("nvidia-gpu-", "nvidia.com/gpu"),
    ("amd-gpu-", "amd.com/gpu"),
    ("google-tpu-", "google.com/tpu"),
)
"""KubeAI's built-in profile names: prefix -> the device plugin resource the profile asks for."""

_TPU_TOPOLOGY = re.compile(r"-\d+x\d+(x\d+)?$")
"""The slice topology a TPU profile ends with (``google-tpu-v5e-1x1``), not part of the product."""


BUILTIN_PROFILES = (
    "nvidia-gpu-t4",
    "nvidia-gpu-l4",
    "nvidia-gpu-a100-80gb",
    "nvidia-gpu-h100",
    "amd-gpu-mi300x",
)
"""The accelerator profiles KubeAI's chart defines (charts/kubeai/values.yaml), offered as
examples in a denial's remedy when one of them is a product the tenant may use."""

PROFILE_HOW_TO_IDENTIFY = (
    "not identifiable: choose a resource profile named for its accelerator the way KubeAI's "
    "own are (nvidia-gpu-<product>, amd-gpu-<product>), or ask your platform team for an "
    "adapter or alias"
)
"""What a denial says instead of `unknown.HOW_TO_IDENTIFY` for a profile: a Model is placed by
its profile, not by a node selector of its own."""


def is_profile_request(resource: str, source: str) -> bool:
    """Whether a request was made from a resource profile (a KubeAI Model's
    ``spec.resourceProfile``): its remedy is another profile, not a node selector."""
    return resource.startswith(PROFILE_RESOURCE_PREFIX) or source.endswith("resourceProfile")


def kubeai_resource_profile(
    value: object, field: str, vocabulary: Vocabulary, dra: DraObjects
) -> list[AcceleratorRequest]:
    """The `ACCELERATOR_PARSERS` entry ``kubeai-resource-profile``: the accelerators a
    ``<profile>:<count>`` string stands for (see module doc)."""
    del vocabulary, dra  # the profile is judged by its name and the catalogue
    return profile_requests(value, field)


def profile_requests(value: object, field: str) -> list[AcceleratorRequest]:
    """The accelerators the ``<profile>:<count>`` string `value` (at `field`) stands for."""
    if value is None:
        return []
    text = expect_string(value, field).strip()
    if not text:
        return []
    name, _, written_count = text.rpartition(":")
    if not name:
        raise InputError(
            f"expected <profile>:<count>, found {text!r}",
            field=field,
            hint="name a resource profile and a count, e.g. nvidia-gpu-l4:1",
        )
    count = parse_count(written_count, field)
    if count == 0 or name in CPU_PROFILES:
        return []
    for prefix, resource in _VENDOR_PREFIXES:
        if name.startswith(prefix) and len(name) > len(prefix):
            product = name.removeprefix(prefix)
            if resource == "google.com/tpu":
                product = _TPU_TOPOLOGY.sub("", product)
            hint = ProductHint(PRODUCT_KEY, Operator.IN, (product,))
            return [AcceleratorRequest(resource, count, (hint,), field)]
    return [AcceleratorRequest(PROFILE_RESOURCE_PREFIX + name, count, (), field)]
