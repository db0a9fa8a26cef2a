import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AgentClass(_message.Message):
    __slots__ = ("name", "backend", "model", "allowed_backends", "capabilities", "cost_ceiling_usd", "created_at", "max_agents", "max_depth", "sandbox_limits", "untrusted_args", "judge", "approval_quorum", "approval_excludes_spawner", "approval_ttl_seconds")
    class SandboxLimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ApprovalQuorumEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    COST_CEILING_USD_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    MAX_AGENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_LIMITS_FIELD_NUMBER: _ClassVar[int]
    UNTRUSTED_ARGS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_QUORUM_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_EXCLUDES_SPAWNER_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    backend: str
    model: str
    allowed_backends: _containers.RepeatedScalarFieldContainer[str]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    cost_ceiling_usd: float
    created_at: _timestamp_pb2.Timestamp
    max_agents: int
    max_depth: int
    sandbox_limits: _containers.ScalarMap[str, float]
    untrusted_args: str
    judge: JudgeConfig
    approval_quorum: _containers.ScalarMap[str, int]
    approval_excludes_spawner: bool
    approval_ttl_seconds: int
    def __init__(self, name: _Optional[str] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., allowed_backends: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Iterable[str]] = ..., cost_ceiling_usd: _Optional[float] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., max_agents: _Optional[int] = ..., max_depth: _Optional[int] = ..., sandbox_limits: _Optional[_Mapping[str, float]] = ..., untrusted_args: _Optional[str] = ..., judge: _Optional[_Union[JudgeConfig, _Mapping]] = ..., approval_quorum: _Optional[_Mapping[str, int]] = ..., approval_excludes_spawner: _Optional[bool] = ..., approval_ttl_seconds: _Optional[int] = ...) -> None: ...

class JudgeConfig(_message.Message):
    __slots__ = ("backend", "model", "on", "policy")
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ON_FIELD_NUMBER: _ClassVar[int]
    POLICY_FIELD_NUMBER: _ClassVar[int]
    backend: str
    model: str
    on: _containers.RepeatedScalarFieldContainer[str]
    policy: str
    def __init__(self, backend: _Optional[str] = ..., model: _Optional[str] = ..., on: _Optional[_Iterable[str]] = ..., policy: _Optional[str] = ...) -> None: ...

class CreateAgentClassRequest(_message.Message):
    __slots__ = ("name", "backend", "model", "allowed_backends", "capabilities", "cost_ceiling_usd", "max_agents", "max_depth", "sandbox_limits", "untrusted_args", "judge", "approval_quorum", "approval_excludes_spawner", "approval_ttl_seconds")
    class SandboxLimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ApprovalQuorumEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: int
        def __init__(self, key: _Optional[str] = ..., value: _Optional[int] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    BACKEND_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    ALLOWED_BACKENDS_FIELD_NUMBER: _ClassVar[int]
    CAPABILITIES_FIELD_NUMBER: _ClassVar[int]
    COST_CEILING_USD_FIELD_NUMBER: _ClassVar[int]
    MAX_AGENTS_FIELD_NUMBER: _ClassVar[int]
    MAX_DEPTH_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_LIMITS_FIELD_NUMBER: _ClassVar[int]
    UNTRUSTED_ARGS_FIELD_NUMBER: _ClassVar[int]
    JUDGE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_QUORUM_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_EXCLUDES_SPAWNER_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_TTL_SECONDS_FIELD_NUMBER: _ClassVar[int]
    name: str
    backend: str
    model: str
    allowed_backends: _containers.RepeatedScalarFieldContainer[str]
    capabilities: _containers.RepeatedScalarFieldContainer[str]
    cost_ceiling_usd: float
    max_agents: int
    max_depth: int
    sandbox_limits: _containers.ScalarMap[str, float]
    untrusted_args: str
    judge: JudgeConfig
    approval_quorum: _containers.ScalarMap[str, int]
    approval_excludes_spawner: bool
    approval_ttl_seconds: int
    def __init__(self, name: _Optional[str] = ..., backend: _Optional[str] = ..., model: _Optional[str] = ..., allowed_backends: _Optional[_Iterable[str]] = ..., capabilities: _Optional[_Iterable[str]] = ..., cost_ceiling_usd: _Optional[float] = ..., max_agents: _Optional[int] = ..., max_depth: _Optional[int] = ..., sandbox_limits: _Optional[_Mapping[str, float]] = ..., untrusted_args: _Optional[str] = ..., judge: _Optional[_Union[JudgeConfig, _Mapping]] = ..., approval_quorum: _Optional[_Mapping[str, int]] = ..., approval_excludes_spawner: _Optional[bool] = ..., approval_ttl_seconds: _Optional[int] = ...) -> None: ...

class CreateAgentClassResponse(_message.Message):
    __slots__ = ("agent_class",)
    AGENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    agent_class: AgentClass
    def __init__(self, agent_class: _Optional[_Union[AgentClass, _Mapping]] = ...) -> None: ...

class GetAgentClassRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetAgentClassResponse(_message.Message):
    __slots__ = ("agent_class",)
    AGENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    agent_class: AgentClass
    def __init__(self, agent_class: _Optional[_Union[AgentClass, _Mapping]] = ...) -> None: ...

class ListAgentClassesRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListAgentClassesResponse(_message.Message):
    __slots__ = ("agent_classes",)
    AGENT_CLASSES_FIELD_NUMBER: _ClassVar[int]
    agent_classes: _containers.RepeatedCompositeFieldContainer[AgentClass]
    def __init__(self, agent_classes: _Optional[_Iterable[_Union[AgentClass, _Mapping]]] = ...) -> None: ...
