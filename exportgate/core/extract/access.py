"""Device access without a resource request: the ways a container reaches accelerators unasked.

The device plugin hands a container a GPU only when it requests one, but on a GPU node the
vendor's container runtime also hands devices to any container that

* sets the runtime's device variable (``NVIDIA_VISIBLE_DEVICES=all``, ``AMD_VISIBLE_DEVICES``,
  ``HABANA_VISIBLE_DEVICES``, ``ASCEND_VISIBLE_DEVICES`` ...; the list is data, see
  ``deviceAccess`` in vocabulary.yaml);
* runs privileged (every host device node is visible);
* mounts the host's ``/dev`` (or a device node under it, the host root, the host root seen
  through ``/proc/<pid>/root``, or a container runtime's socket, through which it can start a
  privileged container on the same node);
* runs under a GPU runtime class (``runtimeClassName: nvidia``): the vendor's handler gives
  the container the node's devices (the CUDA images set ``NVIDIA_VISIBLE_DEVICES=all``);
* is an ephemeral container added to a running pod (``kubectl debug``), which can do any of the
  above on a node that was chosen for a different container.

Such a pod reaches whatever accelerator the nodes it can land on carry, which exportgate cannot
know offline: each finding becomes a request for `DEVICE_ACCESS`, a resource no vendor owns, so
the catalogue reads it as "any product, or an unknown one", narrowed only by the pod's
placement. A pinned, allowed product is the way out, as for any unpinned request.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from exportgate.core.extract.paths import expect_list, expect_mapping, join_index, join_key
from exportgate.core.extract.vocabulary import DeviceAccess

DEVICE_ACCESS = "exportgate.dev/device-access"
"""The resource of a request found through device access rather than an extended resource."""


def container_access(
    container: Mapping[str, Any], where: str, access: DeviceAccess
) -> Iterable[str]:
    """Fields of one container that reach devices without a resource request."""
    env = container.get("env")
    if env and isinstance(env, list):
        for index, variable in enumerate(env):
            # type() first: this runs for every variable of every container admitted.
            if not (type(variable) is dict or isinstance(variable, Mapping)):
                continue
            if hands_devices(variable.get("name"), variable.get("value"), access):
                yield join_index(join_key(where, "env"), index)
    security = container.get("securityContext")
    if isinstance(security, Mapping) and security.get("privileged") is True:
        yield join_key(join_key(where, "securityContext"), "privileged")


def hands_devices(name: object, value: object, access: DeviceAccess) -> bool:
    """Whether the variable `name` set to `value` makes the runtime hand the container devices:
    a device variable (``NVIDIA_VISIBLE_DEVICES``) whose value is not empty or off. A value that
    is no string (``valueFrom``: read when the pod starts) cannot be known, so it counts."""
    if name not in access.env:
        return False
    # Empty, "void", "none": the runtime hands out no device.
    return not (isinstance(value, str) and value.strip().lower() in {"", *access.off_values})


def pod_access(pod: Mapping[str, Any], field: str, access: DeviceAccess) -> Iterable[str]:
    """Pod-level ways to devices: host /dev (root, runtime socket) volumes, a GPU runtime
    class and ephemeral containers."""
    runtime_class = pod.get("runtimeClassName")
    if isinstance(runtime_class, str) and access.runtime_class(runtime_class):
        yield join_key(field, "runtimeClassName")
    volumes = pod.get("volumes")
    if volumes is not None:
        volumes_field = join_key(field, "volumes")
        for index, volume in enumerate(expect_list(volumes, volumes_field)):
            yield from volume_access(volume, join_index(volumes_field, index), access)
    ephemeral = pod.get("ephemeralContainers")
    if ephemeral is not None:
        ephemeral_field = join_key(field, "ephemeralContainers")
        for index, _ in enumerate(expect_list(ephemeral, ephemeral_field)):
            yield join_index(ephemeral_field, index)


def volume_access(volume: object, where: str, access: DeviceAccess) -> Iterable[str]:
    """The field of a volume (at `where`) that mounts a host path reaching devices, if any: a
    Pod's volume, or one a controller adds to the pods it creates (a SparkApplication's
    ``spec.volumes``)."""
    host_path = expect_mapping(volume, where).get("hostPath")
    if not isinstance(host_path, Mapping):
        return
    path = host_path.get("path")
    if isinstance(path, str) and access.host_path(path):
        yield join_key(join_key(where, "hostPath"), "path")
