"""The vocabulary of the decision core.

Everything here is plain, immutable data with no dependency on Kubernetes, gRPC or HTTP, so
that the same objects flow through the CLI, the sidecar, the webhook and the operator.
Adapters turn their wire formats into these types at the edge and back again.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime


class Action(enum.StrEnum):
    """What happens to a request. Ordered from least to most severe (see `severity`)."""

    ALLOW = "allow"
    DRYRUN = "dryrun"  # admit, record only
    WARN = "warn"  # admit with a warning the user sees
    DENY = "deny"

    @property
    def severity(self) -> int:
        return _SEVERITY[self]

    @property
    def admits(self) -> bool:
        return self is not Action.DENY


_SEVERITY = {Action.ALLOW: 0, Action.DRYRUN: 1, Action.WARN: 2, Action.DENY: 3}


class Operator(enum.StrEnum):
    """Operators of a node-selector style requirement, as Kubernetes and Karpenter spell them."""

    IN = "In"
    NOT_IN = "NotIn"
    EXISTS = "Exists"
    DOES_NOT_EXIST = "DoesNotExist"
    GT = "Gt"
    LT = "Lt"


@dataclass(frozen=True, slots=True)
class ProductHint:
    """One clue about which accelerator product a request will land on.

    `key` is where the clue came from, as the source spells it: a node label such as
    ``nvidia.com/gpu.product`` or ``node.kubernetes.io/instance-type``, or a pseudo-key for
    clues that are not labels (``exportgate.dev/dra-device-class``, ``gcp/guest-accelerator``).
    The catalogue turns hints into candidate products.
    """

    key: str
    operator: Operator
    values: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class AcceleratorRequest:
    """An accelerator a workload asks for, before the catalogue has resolved the product.

    `resource` is the extended resource or device class that revealed the request
    (``nvidia.com/gpu``, ``amd.com/gpu``, a DRA device class name, or ``nodepool`` for a node pool
    that can provision accelerators). `hints` are combined with AND (each must hold), the values
    inside an ``In`` hint with OR ("any of"), as Kubernetes scheduling does.
    """

    resource: str
    count: int = 1
    hints: tuple[ProductHint, ...] = ()
    source: str = ""  # where in the object it was found, e.g. "spec.containers[0]"


@dataclass(frozen=True, slots=True)
class ModelRequest:
    """A hosted or served model a workload asks for, as the manifest spells it.

    `reference` is the raw reference (``hf://meta-llama/Llama-3.2-11B-Vision-Instruct``,
    ``claude-sonnet-4``, ``gpt-4o``); `provider` is set when the manifest names one.
    """

    reference: str
    provider: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class ObjectRef:
    """Identity of a Kubernetes-shaped object."""

    api_version: str
    kind: str
    name: str
    namespace: str | None = None

    def __str__(self) -> str:
        # The CLI contract: "Kind/namespace/name", or "Kind/name" when cluster-scoped.
        if self.namespace:
            return f"{self.kind}/{self.namespace}/{self.name}"
        return f"{self.kind}/{self.name}"


@dataclass(frozen=True, slots=True)
class Workload:
    """What extraction found in one object: the accelerators and models it would use."""

    ref: ObjectRef
    accelerators: tuple[AcceleratorRequest, ...] = ()
    models: tuple[ModelRequest, ...] = ()
    tenant_label: str | None = None  # exportgate.dev/tenant on the object itself, if any
    labels: dict[str, str] = field(default_factory=dict, compare=False, hash=False)

    @property
    def guarded(self) -> bool:
        """True when the object asks for anything exportgate has an opinion on."""
        return bool(self.accelerators or self.models)


# --- Tenants -----------------------------------------------------------------------------


class VerificationState(enum.StrEnum):
    VERIFIED = "Verified"
    PENDING = "Pending"
    REJECTED = "Rejected"
    REVOKED = "Revoked"


class EffectiveVerification(enum.StrEnum):
    """Verification as of an instant: the spec state, with expiry applied."""

    VERIFIED = "Verified"
    EXPIRED = "Expired"
    PENDING = "Pending"
    REJECTED = "Rejected"
    REVOKED = "Revoked"
    NOT_YET_VALID = "NotYetValid"
    UNBOUND = "Unbound"  # no tenant record at all


class JurisdictionRole(enum.StrEnum):
    """Why a country is one of a tenant's jurisdictions."""

    INCORPORATION = "incorporation"
    HEADQUARTERS = "headquarters"
    PARENT_HEADQUARTERS = "parentHeadquarters"
    END_CUSTOMER_COUNTRY = "endCustomerCountry"
    END_CUSTOMER_HEADQUARTERS = "endCustomerHeadquarters"
    # An owner holding more than 50%, directly or indirectly: it controls the tenant like an
    # ultimate parent does (the headquarters / ultimate-parent rule; Anthropic's ownership rule).
    MAJORITY_OWNER_HEADQUARTERS = "majorityOwnerHeadquarters"
    # An owner's headquarters counted because owners from there hold more than a rule's share
    # in aggregate (never produced by `jurisdictions`; only by a rule's ownership condition).
    OWNER_HEADQUARTERS = "ownerHeadquarters"


@dataclass(frozen=True, slots=True)
class Jurisdiction:
    """One (country, reason) pair. `country` is already normalised (HK -> CN)."""

    country: str
    role: JurisdictionRole
    via: str = ""  # the party it came from (parent or end customer name), for messages
    declared_as: str = ""  # the code as written when normalisation changed it (e.g. "HK")


@dataclass(frozen=True, slots=True)
class Party:
    name: str
    country: str | None = None
    headquarters: str | None = None


class RestrictedList(enum.StrEnum):
    """U.S. restricted-party lists a party can be on (as the provider's screening recorded it)."""

    ENTITY_LIST = "EntityList"  # 15 CFR 744.11, Supp. 4 to Part 744
    MEU = "MEU"  # Military End-User List, 15 CFR 744.21, Supp. 7 to Part 744
    SDN = "SDN"  # OFAC SDN parties covered by 15 CFR 744.8


@dataclass(frozen=True, slots=True)
class Owner:
    """One owner of the tenant, with its direct or indirect share in percent."""

    name: str
    share: float
    headquarters: str | None = None
    listed_on: tuple[RestrictedList, ...] = ()


@dataclass(frozen=True, slots=True)
class Verification:
    state: VerificationState
    verified_at: datetime | None = None
    expires_at: datetime | None = None
    evidence_ref: str | None = None


@dataclass(frozen=True, slots=True)
class Licence:
    """An export licence on file. `covers` names classifications (3A090.a) or product ids."""

    id: str
    covers: tuple[str, ...]
    countries: tuple[str, ...]
    expires_at: datetime | None = None
    issued_at: datetime | None = None


@dataclass(frozen=True, slots=True)
class Tenant:
    name: str
    legal_name: str
    incorporation: str
    headquarters: str
    verification: Verification
    ultimate_parent: Party | None = None
    end_customers: tuple[Party, ...] = ()
    licences: tuple[Licence, ...] = ()
    resource_version: str | None = None  # set when read from the API server
    owners: tuple[Owner, ...] = ()  # spec.ownership.owners
    listed_on: tuple[RestrictedList, ...] = ()  # spec.listedOn: the tenant's own list status
