import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACTION_UNSPECIFIED: _ClassVar[Action]
    ACTION_ALLOW: _ClassVar[Action]
    ACTION_DRYRUN: _ClassVar[Action]
    ACTION_WARN: _ClassVar[Action]
    ACTION_DENY: _ClassVar[Action]

class Operation(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    OPERATION_UNSPECIFIED: _ClassVar[Operation]
    OPERATION_CREATE: _ClassVar[Operation]
    OPERATION_UPDATE: _ClassVar[Operation]
    OPERATION_DELETE: _ClassVar[Operation]
    OPERATION_CONNECT: _ClassVar[Operation]
    OPERATION_AUDIT: _ClassVar[Operation]
    OPERATION_CHECK: _ClassVar[Operation]
ACTION_UNSPECIFIED: Action
ACTION_ALLOW: Action
ACTION_DRYRUN: Action
ACTION_WARN: Action
ACTION_DENY: Action
OPERATION_UNSPECIFIED: Operation
OPERATION_CREATE: Operation
OPERATION_UPDATE: Operation
OPERATION_DELETE: Operation
OPERATION_CONNECT: Operation
OPERATION_AUDIT: Operation
OPERATION_CHECK: Operation

class ObjectRef(_message.Message):
    __slots__ = ("api_version", "kind", "namespace", "name", "uid")
    API_VERSION_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    NAMESPACE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    api_version: str
    kind: str
    namespace: str
    name: str
    uid: str
    def __init__(self, api_version: _Optional[str] = ..., kind: _Optional[str] = ..., namespace: _Optional[str] = ..., name: _Optional[str] = ..., uid: _Optional[str] = ...) -> None: ...

class UserInfo(_message.Message):
    __slots__ = ("username", "uid", "groups")
    USERNAME_FIELD_NUMBER: _ClassVar[int]
    UID_FIELD_NUMBER: _ClassVar[int]
    GROUPS_FIELD_NUMBER: _ClassVar[int]
    username: str
    uid: str
    groups: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, username: _Optional[str] = ..., uid: _Optional[str] = ..., groups: _Optional[_Iterable[str]] = ...) -> None: ...

class ProductHint(_message.Message):
    __slots__ = ("key", "operator", "values")
    KEY_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_FIELD_NUMBER: _ClassVar[int]
    VALUES_FIELD_NUMBER: _ClassVar[int]
    key: str
    operator: str
    values: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, key: _Optional[str] = ..., operator: _Optional[str] = ..., values: _Optional[_Iterable[str]] = ...) -> None: ...

class AcceleratorRequest(_message.Message):
    __slots__ = ("resource", "count", "hints", "source")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    HINTS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    resource: str
    count: int
    hints: _containers.RepeatedCompositeFieldContainer[ProductHint]
    source: str
    def __init__(self, resource: _Optional[str] = ..., count: _Optional[int] = ..., hints: _Optional[_Iterable[_Union[ProductHint, _Mapping]]] = ..., source: _Optional[str] = ...) -> None: ...

class ModelRequest(_message.Message):
    __slots__ = ("reference", "provider", "source")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    provider: str
    source: str
    def __init__(self, reference: _Optional[str] = ..., provider: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class EvaluateItem(_message.Message):
    __slots__ = ("tenant", "object", "user", "operation", "accelerators", "models", "request_uid", "reuse_decision_id")
    TENANT_FIELD_NUMBER: _ClassVar[int]
    OBJECT_FIELD_NUMBER: _ClassVar[int]
    USER_FIELD_NUMBER: _ClassVar[int]
    OPERATION_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    REQUEST_UID_FIELD_NUMBER: _ClassVar[int]
    REUSE_DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    tenant: str
    object: ObjectRef
    user: UserInfo
    operation: Operation
    accelerators: _containers.RepeatedCompositeFieldContainer[AcceleratorRequest]
    models: _containers.RepeatedCompositeFieldContainer[ModelRequest]
    request_uid: str
    reuse_decision_id: str
    def __init__(self, tenant: _Optional[str] = ..., object: _Optional[_Union[ObjectRef, _Mapping]] = ..., user: _Optional[_Union[UserInfo, _Mapping]] = ..., operation: _Optional[_Union[Operation, str]] = ..., accelerators: _Optional[_Iterable[_Union[AcceleratorRequest, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ModelRequest, _Mapping]]] = ..., request_uid: _Optional[str] = ..., reuse_decision_id: _Optional[str] = ...) -> None: ...

class EvaluateRequest(_message.Message):
    __slots__ = ("items", "at")
    ITEMS_FIELD_NUMBER: _ClassVar[int]
    AT_FIELD_NUMBER: _ClassVar[int]
    items: _containers.RepeatedCompositeFieldContainer[EvaluateItem]
    at: _timestamp_pb2.Timestamp
    def __init__(self, items: _Optional[_Iterable[_Union[EvaluateItem, _Mapping]]] = ..., at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Violation(_message.Message):
    __slots__ = ("rule", "policy", "policy_version", "action", "citation", "message", "remedy", "subject", "countries")
    RULE_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    CITATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    REMEDY_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    COUNTRIES_FIELD_NUMBER: _ClassVar[int]
    rule: str
    policy: str
    policy_version: str
    action: Action
    citation: str
    message: str
    remedy: str
    subject: str
    countries: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, rule: _Optional[str] = ..., policy: _Optional[str] = ..., policy_version: _Optional[str] = ..., action: _Optional[_Union[Action, str]] = ..., citation: _Optional[str] = ..., message: _Optional[str] = ..., remedy: _Optional[str] = ..., subject: _Optional[str] = ..., countries: _Optional[_Iterable[str]] = ...) -> None: ...

class ResolvedAccelerator(_message.Message):
    __slots__ = ("resource", "count", "products", "pinned", "classifications", "source")
    RESOURCE_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    PRODUCTS_FIELD_NUMBER: _ClassVar[int]
    PINNED_FIELD_NUMBER: _ClassVar[int]
    CLASSIFICATIONS_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    resource: str
    count: int
    products: _containers.RepeatedScalarFieldContainer[str]
    pinned: bool
    classifications: _containers.RepeatedScalarFieldContainer[str]
    source: str
    def __init__(self, resource: _Optional[str] = ..., count: _Optional[int] = ..., products: _Optional[_Iterable[str]] = ..., pinned: _Optional[bool] = ..., classifications: _Optional[_Iterable[str]] = ..., source: _Optional[str] = ...) -> None: ...

class ResolvedModel(_message.Message):
    __slots__ = ("reference", "model", "provider", "source")
    REFERENCE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    PROVIDER_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    reference: str
    model: str
    provider: str
    source: str
    def __init__(self, reference: _Optional[str] = ..., model: _Optional[str] = ..., provider: _Optional[str] = ..., source: _Optional[str] = ...) -> None: ...

class Jurisdiction(_message.Message):
    __slots__ = ("country", "role", "via", "declared_as")
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    ROLE_FIELD_NUMBER: _ClassVar[int]
    VIA_FIELD_NUMBER: _ClassVar[int]
    DECLARED_AS_FIELD_NUMBER: _ClassVar[int]
    country: str
    role: str
    via: str
    declared_as: str
    def __init__(self, country: _Optional[str] = ..., role: _Optional[str] = ..., via: _Optional[str] = ..., declared_as: _Optional[str] = ...) -> None: ...

class Decision(_message.Message):
    __slots__ = ("action", "rule", "citation", "message", "decision_id", "policy_version", "policy_versions", "tenant", "verification", "jurisdictions", "violations", "accelerators", "models", "accelerator_class", "reused", "evaluated_at", "verification_ref", "jurisdiction_details")
    class PolicyVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ACTION_FIELD_NUMBER: _ClassVar[int]
    RULE_FIELD_NUMBER: _ClassVar[int]
    CITATION_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    DECISION_ID_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TENANT_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_FIELD_NUMBER: _ClassVar[int]
    JURISDICTIONS_FIELD_NUMBER: _ClassVar[int]
    VIOLATIONS_FIELD_NUMBER: _ClassVar[int]
    ACCELERATORS_FIELD_NUMBER: _ClassVar[int]
    MODELS_FIELD_NUMBER: _ClassVar[int]
    ACCELERATOR_CLASS_FIELD_NUMBER: _ClassVar[int]
    REUSED_FIELD_NUMBER: _ClassVar[int]
    EVALUATED_AT_FIELD_NUMBER: _ClassVar[int]
    VERIFICATION_REF_FIELD_NUMBER: _ClassVar[int]
    JURISDICTION_DETAILS_FIELD_NUMBER: _ClassVar[int]
    action: Action
    rule: str
    citation: str
    message: str
    decision_id: str
    policy_version: str
    policy_versions: _containers.ScalarMap[str, str]
    tenant: str
    verification: str
    jurisdictions: _containers.RepeatedScalarFieldContainer[str]
    violations: _containers.RepeatedCompositeFieldContainer[Violation]
    accelerators: _containers.RepeatedCompositeFieldContainer[ResolvedAccelerator]
    models: _containers.RepeatedCompositeFieldContainer[ResolvedModel]
    accelerator_class: str
    reused: bool
    evaluated_at: _timestamp_pb2.Timestamp
    verification_ref: str
    jurisdiction_details: _containers.RepeatedCompositeFieldContainer[Jurisdiction]
    def __init__(self, action: _Optional[_Union[Action, str]] = ..., rule: _Optional[str] = ..., citation: _Optional[str] = ..., message: _Optional[str] = ..., decision_id: _Optional[str] = ..., policy_version: _Optional[str] = ..., policy_versions: _Optional[_Mapping[str, str]] = ..., tenant: _Optional[str] = ..., verification: _Optional[str] = ..., jurisdictions: _Optional[_Iterable[str]] = ..., violations: _Optional[_Iterable[_Union[Violation, _Mapping]]] = ..., accelerators: _Optional[_Iterable[_Union[ResolvedAccelerator, _Mapping]]] = ..., models: _Optional[_Iterable[_Union[ResolvedModel, _Mapping]]] = ..., accelerator_class: _Optional[str] = ..., reused: _Optional[bool] = ..., evaluated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., verification_ref: _Optional[str] = ..., jurisdiction_details: _Optional[_Iterable[_Union[Jurisdiction, _Mapping]]] = ...) -> None: ...

class EvaluateResponse(_message.Message):
    __slots__ = ("decisions", "policy_version")
    DECISIONS_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    decisions: _containers.RepeatedCompositeFieldContainer[Decision]
    policy_version: str
    def __init__(self, decisions: _Optional[_Iterable[_Union[Decision, _Mapping]]] = ..., policy_version: _Optional[str] = ...) -> None: ...

class StatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class StatusResponse(_message.Message):
    __slots__ = ("policy_version", "policy_versions", "tenants", "policies", "loaded_at", "decision_log")
    class PolicyVersionsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    POLICY_VERSION_FIELD_NUMBER: _ClassVar[int]
    POLICY_VERSIONS_FIELD_NUMBER: _ClassVar[int]
    TENANTS_FIELD_NUMBER: _ClassVar[int]
    POLICIES_FIELD_NUMBER: _ClassVar[int]
    LOADED_AT_FIELD_NUMBER: _ClassVar[int]
    DECISION_LOG_FIELD_NUMBER: _ClassVar[int]
    policy_version: str
    policy_versions: _containers.ScalarMap[str, str]
    tenants: int
    policies: int
    loaded_at: _timestamp_pb2.Timestamp
    decision_log: str
    def __init__(self, policy_version: _Optional[str] = ..., policy_versions: _Optional[_Mapping[str, str]] = ..., tenants: _Optional[int] = ..., policies: _Optional[int] = ..., loaded_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., decision_log: _Optional[str] = ...) -> None: ...
