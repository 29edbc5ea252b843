"""A run is the top owner of a Pod: follow controller ownerReferences as far as they go.

Pod -> ReplicaSet -> Deployment, Pod -> Job -> JobSet (-> TrainJob), Pod -> PyTorchJob,
Pod -> RayCluster -> RayJob, Pod -> StatefulSet -> LeaderWorkerSet, ... whatever the kind:
each step reads the owner (its plural found through API discovery) and takes its controller
reference. Where an owner cannot be read (deleted, or a kind the operator may not get), the
climb stops at the last reference known, which is still the best name for the run.

Answers are cached by owner uid: an object's controller does not change, so 10,000 Pods of
one JobSet cost one climb.
"""

from __future__ import annotations

import functools
import hashlib
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from exportgate.logsetup import get_logger
from exportgate_operator.kinds import Resource
from exportgate_operator.kube import Kube, KubeError

log = get_logger(__name__)
MAX_DEPTH = 8  # ownership chains are short; a cycle must not hang a pass
# Owners that start independent runs rather than being one: each Job a CronJob creates is its
# own training run, so the climb stops below them.
NOT_A_RUN = frozenset({("batch/v1", "CronJob")})
_NAME = re.compile(r"[^a-z0-9-]+")


@dataclass(frozen=True, slots=True)
class Owner:
    api_version: str
    kind: str
    name: str
    uid: str
    namespace: str

    def to_dict(self) -> dict[str, str]:
        return {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
            "namespace": self.namespace,
        }

    @property
    def record_name(self) -> str:
        """The run record's name: kind-name-hash6, a valid DNS subdomain of at most 253."""
        return _record_name(self.kind, self.name, self.uid)


@functools.lru_cache(maxsize=65536)
def _record_name(kind: str, name: str, uid: str) -> str:
    stem = _NAME.sub("-", f"{kind}-{name}".lower()).strip("-")[:200]
    suffix = hashlib.sha256(uid.encode()).hexdigest()[:6] if uid else "nouid"
    return f"{stem}-{suffix}"


def owner_from_ref(ref: Mapping[str, Any], namespace: str) -> Owner:
    return Owner(
        str(ref.get("apiVersion", "")),
        str(ref.get("kind", "")),
        str(ref.get("name", "")),
        str(ref.get("uid", "")),
        namespace,
    )


class OwnerResolver:
    def __init__(self, kube: Kube) -> None:
        self.kube = kube
        self._top: dict[str, Owner] = {}  # owner uid -> top owner
        self._plurals: dict[tuple[str, str], Resource | None] = {}

    def top(self, pod_ref: Owner, owners: tuple[Mapping[str, Any], ...]) -> Owner:
        """The run a Pod belongs to (the Pod itself when nothing controls it)."""
        if not owners:
            return pod_ref
        first = owner_from_ref(owners[0], pod_ref.namespace)
        cached = self._top.get(first.uid)
        if cached is not None:
            return cached
        current = first
        seen = {first.uid}
        for _ in range(MAX_DEPTH):
            parent = self._controller_of(current)
            if parent is None or parent.uid in seen:
                break
            if (parent.api_version, parent.kind) in NOT_A_RUN:
                break
            seen.add(parent.uid)
            current = parent
        self._top[first.uid] = current
        return current

    def _controller_of(self, owner: Owner) -> Owner | None:
        resource = self._resource(owner.api_version, owner.kind)
        if resource is None:
            return None
        try:
            body = self.kube.request(
                "GET", resource.path(owner.namespace if resource.namespaced else None, owner.name)
            )
        except KubeError as exc:
            if exc.status not in (403, 404):
                log.warning("cannot read owner", owner=owner.to_dict(), error=str(exc))
            return None
        meta = body.get("metadata") or {}
        if owner.uid and meta.get("uid") and meta["uid"] != owner.uid:
            return None  # a newer object of that name: not this Pod's owner
        refs = [r for r in meta.get("ownerReferences") or () if r.get("controller")]
        return owner_from_ref(refs[0], owner.namespace) if refs else None

    def _resource(self, api_version: str, kind: str) -> Resource | None:
        key = (api_version, kind)
        if self._plurals.get(key) is None:  # a CRD installed later is found next time
            self._plurals[key] = self._discover(api_version, kind)
        return self._plurals[key]

    def _discover(self, api_version: str, kind: str) -> Resource | None:
        group, _, version = api_version.rpartition("/")
        path = f"/apis/{api_version}" if group else f"/api/{version}"
        try:
            answer = self.kube.request("GET", path)
        except KubeError:
            return None
        for entry in answer.get("resources") or ():
            if entry.get("kind") == kind and "/" not in str(entry.get("name", "")):
                return Resource(group, version, str(entry["name"]), kind,
                                bool(entry.get("namespaced", True)))
        return None
