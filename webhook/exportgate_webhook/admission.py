"""What the webhook answers: one AdmissionRequest in, one AdmissionResponse out.

`validate` is where requests are refused; `mutate` only ever admits (possibly with a stamp).
Both are fail-closed for what exportgate guards:

* DELETE and CONNECT are admitted (removing a workload never needs a licence), except deletes
  of Tenant and ExportPolicy resources by anyone but the platform, which the tenancy guard
  refuses.
* An UPDATE of an object being deleted is skipped only when it changes nothing but metadata
  (finalizers) and adds or alters no decision stamp; any other change is evaluated like any
  update.
* Objects that ask for no accelerator and no model are admitted without asking the sidecar.
* An object exportgate cannot read, a namespace whose tenant cannot be determined, and a sidecar
  that is down, slow or answers nonsense all end in a denial that says so — never an allow.
* The whole review has one budget (`SidecarConfig.budget_s`); namespace reads and the sidecar
  call share it, so the tenant reads exportgate's answer before the API server gives up.

See docs/webhook.md for how the mutating and validating phases tie their decisions together.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, TypeVar

import structlog

from exportgate.core.errors import InputError
from exportgate.core.extract import AdapterRegistry
from exportgate.core.extract.vocabulary import Vocabulary
from exportgate.core.limits import EXTRACT_WORKERS, INLINE_BODY_BYTES
from exportgate.core.tenancy import owning_tenant
from exportgate.core.types import Action, ObjectRef, Workload
from exportgate.wire import Answer, PolicyUnavailable, Question
from exportgate.wire.question import on_the_wire
from exportgate_webhook import messages
from exportgate_webhook.config import GuardConfig
from exportgate_webhook.dra import DraLookup, ExtractWith
from exportgate_webhook.metrics import WebhookMetrics
from exportgate_webhook.mutate import (
    forged_stamps,
    stamp_patch,
    stamped_decision_id,
    stamps_for,
    strip_patch,
)
from exportgate_webhook.podstatus import (
    binding_guarded_annotations,
    guarded_annotation_changes,
    is_pod_binding,
    is_pod_status,
)
from exportgate_webhook.records import record_refusal
from exportgate_webhook.review import AdmissionRequest, AdmissionResponse, allowed, denied
from exportgate_webhook.tenancy import (
    NamespaceDirectory,
    NamespaceLookupError,
    PlatformIdentities,
    is_cluster_scoped,
    is_namespace,
    tenancy_change_denial,
)

log = structlog.get_logger("exportgate.webhook")

Extractor = Callable[[Mapping[str, Any]], Workload]


class PolicyAsker(Protocol):
    """The policy service, as the reviewer needs it: a `BatchingClient` over the sidecar's
    `exportgate.wire.PolicyClient` or the embedded `exportgate.service.local.LocalPolicyClient`."""

    async def evaluate(self, items: list[Question], *, timeout: float) -> list[Answer]: ...


@dataclass(frozen=True, slots=True)
class Outcome:
    """The response, and the decision label it is counted under in the metrics."""

    response: AdmissionResponse
    decision: str


class _Refusal(Exception):
    """Internal: stop the review with this outcome."""

    def __init__(self, outcome_kind: str, message: str, code: int, reason: str) -> None:
        self.kind = outcome_kind
        self.message = message
        self.code = code
        self.reason = reason
        super().__init__(message)


_T = TypeVar("_T")


class Offload:
    """Work too long for the event loop's slice, run on a small bounded thread pool.

    Reviews whose body is at most `INLINE_BODY_BYTES` are extracted on the loop: within the
    caps of `exportgate.core.limits` that takes well under `EXTRACT_SLICE_S`. Larger ones go to
    `EXTRACT_WORKERS` threads; the loop then runs other requests, giving the thread the GIL
    every switch interval (5 ms), and a queued job whose review ran out of budget is cancelled
    before it starts.
    """

    body_bytes: ClassVar[ContextVar[int]] = ContextVar("exportgate_body_bytes", default=0)
    """Size of the body of the review being handled (set by the server for each request)."""

    def __init__(self, workers: int = EXTRACT_WORKERS) -> None:
        self._pool = ThreadPoolExecutor(workers, thread_name_prefix="exportgate-extract")

    async def run(self, function: Callable[..., _T], *args: Any) -> _T:
        return await asyncio.get_running_loop().run_in_executor(self._pool, function, *args)

    async def call(self, function: Callable[..., _T], *args: Any) -> _T:
        """`function(*args)` inline for small reviews, on the pool for large ones."""
        if self.body_bytes.get() <= INLINE_BODY_BYTES:
            return function(*args)
        return await self.run(function, *args)

    def close(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _being_deleted(obj: Mapping[str, Any]) -> bool:
    metadata = obj.get("metadata")
    return isinstance(metadata, Mapping) and bool(metadata.get("deletionTimestamp"))


def metadata_only_change(request: AdmissionRequest) -> bool:
    """True for an UPDATE of an object being deleted that changes nothing but metadata
    (finalizers, labels, annotations): the only updates of a dying object left unevaluated.
    Anything else (a tenant editing a ModelEndpoint's model while its own finalizer holds it)
    is evaluated like any update, so an old allow stamp cannot cover a new spec."""
    obj = request.get("object") or {}
    if request["operation"] != "UPDATE" or not _being_deleted(obj):
        return False
    old = request.get("oldObject") or {}
    return {k: v for k, v in obj.items() if k != "metadata"} == {
        k: v for k, v in old.items() if k != "metadata"
    }


def _object_uid(obj: Mapping[str, Any]) -> str:
    metadata = obj.get("metadata")
    uid = metadata.get("uid") if isinstance(metadata, Mapping) else None
    return uid if isinstance(uid, str) else ""


def reference_of(request: AdmissionRequest, obj: Mapping[str, Any] | None) -> ObjectRef:
    """Who the object is, for messages: the request's own name and namespace are authoritative
    (a CREATE with generateName has no name in the object yet)."""
    kind = request["kind"]
    api_version = f"{kind['group']}/{kind['version']}" if kind["group"] else kind["version"]
    name = request.get("name", "")
    if not name and obj is not None:
        metadata = obj.get("metadata")
        if isinstance(metadata, Mapping):
            generate = metadata.get("generateName")
            name = f"{generate}*" if isinstance(generate, str) and generate else ""
    namespace = None if is_cluster_scoped(request) else request.get("namespace") or None
    return ObjectRef(api_version, kind["kind"], name or "<unnamed>", namespace)


class AdmissionReviewer:
    def __init__(
        self,
        *,
        extract: Extractor,
        namespaces: NamespaceDirectory,
        sidecar: PolicyAsker,
        guard: GuardConfig,
        budget_s: float,
        namespace_fetch_timeout_s: float,
        metrics: WebhookMetrics,
        dra: DraLookup | None = None,
        extract_with: ExtractWith | None = None,
        slow_to_extract: Callable[[Mapping[str, Any]], bool] | None = None,
        vocabulary: Vocabulary | None = None,
    ) -> None:
        self._extract = extract
        # Which pod annotations hand a device: guarded on pods/status writes (podstatus.py).
        self._vocabulary = vocabulary or AdapterRegistry.builtin().vocabulary
        # Objects whose extraction parses YAML held in a string field (a Ray Serve config):
        # always off the loop, whatever the body's size (exportgate.core.limits).
        self._slow_to_extract = slow_to_extract or (lambda obj: False)
        self._dra = dra
        self._extract_with = extract_with
        self._namespaces = namespaces
        self._sidecar = sidecar
        self._guard = guard
        self._platform = PlatformIdentities(guard.platform_users, guard.platform_groups)
        self._kyc = PlatformIdentities(guard.kyc_users, guard.kyc_groups)
        self._budget_s = budget_s
        self._fetch_timeout_s = namespace_fetch_timeout_s
        self._metrics = metrics
        self.offload = Offload()

    @property
    def budget_s(self) -> float:
        return self._budget_s

    # -- validating ------------------------------------------------------------------------

    async def validate(self, request: AdmissionRequest) -> Outcome:
        uid = request["uid"]
        change = tenancy_change_denial(request, self._platform, self._kyc)
        if change is not None:
            return Outcome(denied(uid, change.describe()), "tenancy")
        unreadable = record_refusal(request)  # a Tenant/ExportPolicy the parser refuses
        if unreadable is not None:
            return Outcome(denied(uid, unreadable, code=400, reason="BadRequest"), "unreadable")
        if request["operation"] not in ("CREATE", "UPDATE"):
            return Outcome(allowed(uid), "skipped")
        obj = request.get("object") or {}
        if self._exempt(request):
            return Outcome(allowed(uid), "exempt")
        ref = reference_of(request, obj)
        if is_pod_status(request):
            # Never a policy decision: the kubelet's status writes must not be refused because
            # the pod itself would be denied today (a violator admitted before exportgate).
            return self._pod_status(request, ref)
        if is_pod_binding(request):
            # Nor is a Binding (kube-scheduler's, constantly): only its annotations are guarded.
            return self._pod_binding(request, ref)
        # Before the dying-object skip: a metadata-only update may remove stamps, never add or
        # alter them, or a tenant's own finalizer would let it stamp any decision id on a dying
        # object (red team 3, F5).
        forged = self._forged_stamps(request)
        if forged:
            return Outcome(denied(uid, messages.forged_stamp_message(ref, forged)), "forged")
        if metadata_only_change(request):
            # Finalizer removal and other metadata updates of a dying object are never blocked.
            return Outcome(allowed(uid), "skipped")
        try:
            workload = await self._read(request, obj)
        except InputError as exc:
            message = messages.unreadable_object_message(ref, exc.describe())
            return Outcome(denied(uid, message, code=400, reason="BadRequest"), "unreadable")
        if not workload.guarded:
            return Outcome(allowed(uid), "unguarded")
        # With the mutating phase on, a stamp on the object is the one /mutate just wrote (it
        # overwrites or removes any other). Naming it lets the sidecar answer with that decision
        # instead of deciding and logging the same admission twice. The sidecar trusts nothing
        # here: it reuses the decision only if it made it for an identical item under the same
        # policy and tenant record; otherwise (a stale or copied id, another replica) it decides
        # afresh.
        stamped = stamped_decision_id(obj) if self._guard.mutate else ""
        try:
            tenant, answer = await self._decide(request, obj, workload, reuse=stamped)
        except _Refusal as refusal:
            return Outcome(
                denied(uid, refusal.message, code=refusal.code, reason=refusal.reason),
                refusal.kind,
            )
        audit = messages.audit_annotations(answer, phase="validating", stamped_id=stamped)
        action = answer.decision.action
        if action is Action.DENY:
            message = messages.denial_message(answer, ref, tenant)
            return Outcome(denied(uid, message, audit=audit), action.value)
        if action is Action.WARN:
            warnings = messages.warnings_for(answer, ref, tenant)
            return Outcome(allowed(uid, warnings=warnings, audit=audit), action.value)
        return Outcome(allowed(uid, audit=audit), action.value)

    async def _read(self, request: AdmissionRequest, obj: Mapping[str, Any]) -> Workload:
        """The workload, with the DRA objects it names read from the API server (bounded)."""
        # Large objects, and those holding embedded documents, are extracted off the loop.
        run = self.offload.run if self._slow_to_extract(obj) else self.offload.call
        if self._dra is None or self._extract_with is None:
            return await run(self._extract, obj)
        namespace = request.get("namespace") or None
        return await self._dra.extract(
            self._extract_with, obj, namespace, timeout=self._fetch_timeout_s, run=run
        )

    def validate_failed(self, request: AdmissionRequest, problem: str) -> Outcome:
        """The answer when `validate` itself could not finish (a bug, or the budget ran out)."""
        message = messages.unavailable_message(problem)
        return Outcome(denied(request["uid"], message, code=500, reason="InternalError"), "error")

    # -- mutating --------------------------------------------------------------------------

    async def mutate(self, request: AdmissionRequest) -> Outcome:
        uid = request["uid"]
        if not self._guard.mutate or request["operation"] not in ("CREATE", "UPDATE"):
            return Outcome(allowed(uid), "skipped")
        obj = request.get("object") or {}
        if metadata_only_change(request) or is_pod_status(request) or is_pod_binding(request):
            # A status write or a Binding is not the Pod's admission: /validate guards their
            # annotations.
            return Outcome(allowed(uid), "skipped")
        if self._exempt(request):
            return Outcome(allowed(uid), "exempt")
        # Whatever happens next, a stamp the caller wrote never survives this phase: it is
        # overwritten by a fresh one or removed. That is what lets /validate trust stamps.
        strip = strip_patch(obj)
        try:
            workload = await self._read(request, obj)
        except InputError:
            return Outcome(allowed(uid, patch=strip), "unreadable")  # /validate refuses it
        if not workload.guarded:
            return Outcome(allowed(uid, patch=strip), "unguarded")
        try:
            _, answer = await self._decide(request, obj, workload)
        except _Refusal as refusal:
            return Outcome(allowed(uid, patch=strip), refusal.kind)  # /validate refuses it
        action = answer.decision.action
        # A denial is stamped too: /validate then answers with this same decision instead of
        # deciding (and logging) the admission a second time. The object is refused there, so
        # the stamp is never stored.
        audit = messages.audit_annotations(answer, phase="mutating")
        patch = stamp_patch(obj, stamps_for(answer))
        return Outcome(allowed(uid, audit=audit, patch=patch), action.value)

    def mutate_failed(self, request: AdmissionRequest, problem: str) -> Outcome:
        """Admit unchanged apart from removing caller-written stamps; /validate decides."""
        obj = request.get("object") or {}
        return Outcome(allowed(request["uid"], patch=strip_patch(obj)), "error")

    # -- shared ----------------------------------------------------------------------------

    def _pod_status(self, request: AdmissionRequest, ref: ObjectRef) -> Outcome:
        """A pods/status write: refused only if it changes an annotation exportgate reads."""
        uid = request["uid"]
        if self._platform.includes(request["userInfo"]):
            return Outcome(allowed(uid), "skipped")
        changed = guarded_annotation_changes(
            request.get("object"), request.get("oldObject"), self._vocabulary
        )
        if changed:
            return Outcome(denied(uid, messages.pod_status_message(ref, changed)), "forged")
        return Outcome(allowed(uid), "skipped")

    def _pod_binding(self, request: AdmissionRequest, ref: ObjectRef) -> Outcome:
        """A Binding: refused only if it carries an annotation exportgate reads, which the API
        server would merge into the Pod."""
        uid = request["uid"]
        if self._platform.includes(request["userInfo"]):
            return Outcome(allowed(uid), "skipped")
        carried = binding_guarded_annotations(request.get("object"), self._vocabulary)
        if carried:
            return Outcome(denied(uid, messages.pod_binding_message(ref, carried)), "forged")
        return Outcome(allowed(uid), "skipped")

    def _exempt(self, request: AdmissionRequest) -> bool:
        namespace = request.get("namespace")
        return (
            bool(namespace)
            and not is_namespace(request)
            and namespace in self._guard.exempt_namespaces
        )

    def _forged_stamps(self, request: AdmissionRequest) -> list[str]:
        """Stamps the caller added or altered, when no mutating phase overwrites them. /mutate
        leaves a dying object's metadata-only update alone (finalizers must always go), so
        there the stamps are checked even with the mutating phase on."""
        if self._platform.includes(request["userInfo"]):
            return []
        if self._guard.mutate and not metadata_only_change(request):
            return []  # /mutate overwrote or removed whatever the caller wrote
        old = request.get("oldObject") if request["operation"] == "UPDATE" else None
        return forged_stamps(request.get("object"), old)

    async def _decide(
        self,
        request: AdmissionRequest,
        obj: Mapping[str, Any],
        workload: Workload,
        *,
        reuse: str = "",
    ) -> tuple[str, Answer]:
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._budget_s
        tenant = await self._tenant(request, workload, deadline)
        user = request["userInfo"]
        question = Question(
            tenant=tenant,
            # As the wire carries it (no labels), wherever the policy service runs.
            workload=on_the_wire(workload, reference_of(request, obj)),
            operation=request["operation"],
            username=user["username"],
            user_uid=user.get("uid", ""),
            groups=tuple(user.get("groups", ())),
            object_uid=_object_uid(obj),
            request_uid=request["uid"],
            reuse_decision_id=reuse,
        )
        started = loop.time()
        try:
            answers = await self._sidecar.evaluate([question], timeout=deadline - started)
        except PolicyUnavailable as exc:
            self._metrics.sidecar_errors.labels(exc.kind).inc()
            log.warning("policy sidecar unavailable", reason=exc.describe(), uid=request["uid"])
            raise _Refusal(
                "unavailable", messages.unavailable_message(exc.reason), 503, "ServiceUnavailable"
            ) from None
        finally:
            self._metrics.sidecar_latency.observe(loop.time() - started)
        return tenant, answers[0]

    async def _tenant(self, request: AdmissionRequest, workload: Workload, deadline: float) -> str:
        if is_cluster_scoped(request):  # the binding rule: exportgate.core.tenancy
            return (
                owning_tenant(
                    cluster_scoped=True, own_label=workload.tenant_label, namespace_tenant=None
                )
                or ""
            )
        namespace = request.get("namespace", "")
        remaining = deadline - asyncio.get_running_loop().time()
        try:
            return await self._namespaces.tenant_of(
                namespace, timeout=max(0.0, min(self._fetch_timeout_s, remaining))
            )
        except NamespaceLookupError as exc:
            raise _Refusal(
                "unavailable",
                messages.namespace_unknown_message(namespace, exc.problem),
                503,
                "ServiceUnavailable",
            ) from None
