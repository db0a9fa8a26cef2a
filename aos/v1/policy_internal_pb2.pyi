from aos.v1 import agent_classes_pb2 as _agent_classes_pb2
from aos.v1 import common_pb2 as _common_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class SyscallKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SYSCALL_KIND_UNSPECIFIED: _ClassVar[SyscallKind]
    SYSCALL_KIND_LLM_CALL: _ClassVar[SyscallKind]
    SYSCALL_KIND_TOOL_CALL: _ClassVar[SyscallKind]
    SYSCALL_KIND_SPAWN: _ClassVar[SyscallKind]
    SYSCALL_KIND_KB_QUERY: _ClassVar[SyscallKind]

class Decision(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    DECISION_UNSPECIFIED: _ClassVar[Decision]
    DECISION_ALLOW: _ClassVar[Decision]
    DECISION_PENDING: _ClassVar[Decision]
    DECISION_DENY: _ClassVar[Decision]
SYSCALL_KIND_UNSPECIFIED: SyscallKind
SYSCALL_KIND_LLM_CALL: SyscallKind
SYSCALL_KIND_TOOL_CALL: SyscallKind
SYSCALL_KIND_SPAWN: SyscallKind
SYSCALL_KIND_KB_QUERY: SyscallKind
DECISION_UNSPECIFIED: Decision
DECISION_ALLOW: Decision
DECISION_PENDING: Decision
DECISION_DENY: Decision

class AuthorizeRequest(_message.Message):
    __slots__ = ("token", "kind", "target", "agent_id", "args_canonical", "args_hash", "model", "max_input_tokens", "max_output_tokens", "approval_id", "evidence", "invoked_by", "invoked_by_jti", "definition_hash", "limits", "arg_provenance", "judge_verdict", "judge_model", "judge_reason")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    class ArgProvenanceEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    TARGET_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    ARGS_CANONICAL_FIELD_NUMBER: _ClassVar[int]
    ARGS_HASH_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    MAX_INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    MAX_OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    EVIDENCE_FIELD_NUMBER: _ClassVar[int]
    INVOKED_BY_FIELD_NUMBER: _ClassVar[int]
    INVOKED_BY_JTI_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    ARG_PROVENANCE_FIELD_NUMBER: _ClassVar[int]
    JUDGE_VERDICT_FIELD_NUMBER: _ClassVar[int]
    JUDGE_MODEL_FIELD_NUMBER: _ClassVar[int]
    JUDGE_REASON_FIELD_NUMBER: _ClassVar[int]
    token: str
    kind: SyscallKind
    target: str
    agent_id: str
    args_canonical: str
    args_hash: str
    model: str
    max_input_tokens: int
    max_output_tokens: int
    approval_id: str
    evidence: _containers.RepeatedCompositeFieldContainer[_common_pb2.EvidenceItem]
    invoked_by: str
    invoked_by_jti: str
    definition_hash: str
    limits: _containers.ScalarMap[str, float]
    arg_provenance: _containers.ScalarMap[str, str]
    judge_verdict: str
    judge_model: str
    judge_reason: str
    def __init__(self, token: _Optional[str] = ..., kind: _Optional[_Union[SyscallKind, str]] = ..., target: _Optional[str] = ..., agent_id: _Optional[str] = ..., args_canonical: _Optional[str] = ..., args_hash: _Optional[str] = ..., model: _Optional[str] = ..., max_input_tokens: _Optional[int] = ..., max_output_tokens: _Optional[int] = ..., approval_id: _Optional[str] = ..., evidence: _Optional[_Iterable[_Union[_common_pb2.EvidenceItem, _Mapping]]] = ..., invoked_by: _Optional[str] = ..., invoked_by_jti: _Optional[str] = ..., definition_hash: _Optional[str] = ..., limits: _Optional[_Mapping[str, float]] = ..., arg_provenance: _Optional[_Mapping[str, str]] = ..., judge_verdict: _Optional[str] = ..., judge_model: _Optional[str] = ..., judge_reason: _Optional[str] = ...) -> None: ...

class AuthorizeResponse(_message.Message):
    __slots__ = ("decision", "reason", "message", "approval_id", "syscall_id", "reserved_usd", "limits")
    class LimitsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: float
        def __init__(self, key: _Optional[str] = ..., value: _Optional[float] = ...) -> None: ...
    DECISION_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    APPROVAL_ID_FIELD_NUMBER: _ClassVar[int]
    SYSCALL_ID_FIELD_NUMBER: _ClassVar[int]
    RESERVED_USD_FIELD_NUMBER: _ClassVar[int]
    LIMITS_FIELD_NUMBER: _ClassVar[int]
    decision: Decision
    reason: str
    message: str
    approval_id: str
    syscall_id: str
    reserved_usd: float
    limits: _containers.ScalarMap[str, float]
    def __init__(self, decision: _Optional[_Union[Decision, str]] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., approval_id: _Optional[str] = ..., syscall_id: _Optional[str] = ..., reserved_usd: _Optional[float] = ..., limits: _Optional[_Mapping[str, float]] = ...) -> None: ...

class CompleteRequest(_message.Message):
    __slots__ = ("token", "syscall_id", "ok", "error", "input_tokens", "output_tokens", "result_digest")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    SYSCALL_ID_FIELD_NUMBER: _ClassVar[int]
    OK_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    INPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    OUTPUT_TOKENS_FIELD_NUMBER: _ClassVar[int]
    RESULT_DIGEST_FIELD_NUMBER: _ClassVar[int]
    token: str
    syscall_id: str
    ok: bool
    error: str
    input_tokens: int
    output_tokens: int
    result_digest: str
    def __init__(self, token: _Optional[str] = ..., syscall_id: _Optional[str] = ..., ok: _Optional[bool] = ..., error: _Optional[str] = ..., input_tokens: _Optional[int] = ..., output_tokens: _Optional[int] = ..., result_digest: _Optional[str] = ...) -> None: ...

class CompleteResponse(_message.Message):
    __slots__ = ("cost_usd", "session_spent_usd", "overrun_usd")
    COST_USD_FIELD_NUMBER: _ClassVar[int]
    SESSION_SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    OVERRUN_USD_FIELD_NUMBER: _ClassVar[int]
    cost_usd: float
    session_spent_usd: float
    overrun_usd: float
    def __init__(self, cost_usd: _Optional[float] = ..., session_spent_usd: _Optional[float] = ..., overrun_usd: _Optional[float] = ...) -> None: ...

class GetJwksRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetJwksResponse(_message.Message):
    __slots__ = ("jwks_json",)
    JWKS_JSON_FIELD_NUMBER: _ClassVar[int]
    jwks_json: str
    def __init__(self, jwks_json: _Optional[str] = ...) -> None: ...

class GetRevocationsRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetRevocationsResponse(_message.Message):
    __slots__ = ("revoked_jtis",)
    REVOKED_JTIS_FIELD_NUMBER: _ClassVar[int]
    revoked_jtis: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, revoked_jtis: _Optional[_Iterable[str]] = ...) -> None: ...

class MintAgentTokenRequest(_message.Message):
    __slots__ = ("caller_token", "agent_class", "requested_grants", "session_id", "agent_id", "parent_agent_id")
    CALLER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AGENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    REQUESTED_GRANTS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    PARENT_AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    caller_token: str
    agent_class: str
    requested_grants: _containers.RepeatedScalarFieldContainer[str]
    session_id: str
    agent_id: str
    parent_agent_id: str
    def __init__(self, caller_token: _Optional[str] = ..., agent_class: _Optional[str] = ..., requested_grants: _Optional[_Iterable[str]] = ..., session_id: _Optional[str] = ..., agent_id: _Optional[str] = ..., parent_agent_id: _Optional[str] = ...) -> None: ...

class MintAgentTokenResponse(_message.Message):
    __slots__ = ("token", "jti", "session_id", "grants", "agent_class", "expires_at_unix")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JTI_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    GRANTS_FIELD_NUMBER: _ClassVar[int]
    AGENT_CLASS_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    token: str
    jti: str
    session_id: str
    grants: _containers.RepeatedScalarFieldContainer[str]
    agent_class: _agent_classes_pb2.AgentClass
    expires_at_unix: int
    def __init__(self, token: _Optional[str] = ..., jti: _Optional[str] = ..., session_id: _Optional[str] = ..., grants: _Optional[_Iterable[str]] = ..., agent_class: _Optional[_Union[_agent_classes_pb2.AgentClass, _Mapping]] = ..., expires_at_unix: _Optional[int] = ...) -> None: ...

class RenewAgentTokenRequest(_message.Message):
    __slots__ = ("caller_token", "agent_id", "expired_jti")
    CALLER_TOKEN_FIELD_NUMBER: _ClassVar[int]
    AGENT_ID_FIELD_NUMBER: _ClassVar[int]
    EXPIRED_JTI_FIELD_NUMBER: _ClassVar[int]
    caller_token: str
    agent_id: str
    expired_jti: str
    def __init__(self, caller_token: _Optional[str] = ..., agent_id: _Optional[str] = ..., expired_jti: _Optional[str] = ...) -> None: ...

class RenewAgentTokenResponse(_message.Message):
    __slots__ = ("token", "jti", "expires_at_unix")
    TOKEN_FIELD_NUMBER: _ClassVar[int]
    JTI_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_UNIX_FIELD_NUMBER: _ClassVar[int]
    token: str
    jti: str
    expires_at_unix: int
    def __init__(self, token: _Optional[str] = ..., jti: _Optional[str] = ..., expires_at_unix: _Optional[int] = ...) -> None: ...

class RetireAgentTokensRequest(_message.Message):
    __slots__ = ("jtis",)
    JTIS_FIELD_NUMBER: _ClassVar[int]
    jtis: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, jtis: _Optional[_Iterable[str]] = ...) -> None: ...

class RetireAgentTokensResponse(_message.Message):
    __slots__ = ("revoked_count",)
    REVOKED_COUNT_FIELD_NUMBER: _ClassVar[int]
    revoked_count: int
    def __init__(self, revoked_count: _Optional[int] = ...) -> None: ...

class ToolSpec(_message.Message):
    __slots__ = ("name", "reversible", "blast_radius", "idempotent", "args_schema_json", "definition_hash", "open_world")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REVERSIBLE_FIELD_NUMBER: _ClassVar[int]
    BLAST_RADIUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    ARGS_SCHEMA_JSON_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    OPEN_WORLD_FIELD_NUMBER: _ClassVar[int]
    name: str
    reversible: bool
    blast_radius: str
    idempotent: bool
    args_schema_json: str
    definition_hash: str
    open_world: bool
    def __init__(self, name: _Optional[str] = ..., reversible: _Optional[bool] = ..., blast_radius: _Optional[str] = ..., idempotent: _Optional[bool] = ..., args_schema_json: _Optional[str] = ..., definition_hash: _Optional[str] = ..., open_world: _Optional[bool] = ...) -> None: ...

class RegisterToolsRequest(_message.Message):
    __slots__ = ("tools",)
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    tools: _containers.RepeatedCompositeFieldContainer[ToolSpec]
    def __init__(self, tools: _Optional[_Iterable[_Union[ToolSpec, _Mapping]]] = ...) -> None: ...

class RegisterToolsResponse(_message.Message):
    __slots__ = ("registered",)
    REGISTERED_FIELD_NUMBER: _ClassVar[int]
    registered: int
    def __init__(self, registered: _Optional[int] = ...) -> None: ...

class GetSessionCostRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class GetSessionCostResponse(_message.Message):
    __slots__ = ("ceiling_usd", "reserved_usd", "spent_usd")
    CEILING_USD_FIELD_NUMBER: _ClassVar[int]
    RESERVED_USD_FIELD_NUMBER: _ClassVar[int]
    SPENT_USD_FIELD_NUMBER: _ClassVar[int]
    ceiling_usd: float
    reserved_usd: float
    spent_usd: float
    def __init__(self, ceiling_usd: _Optional[float] = ..., reserved_usd: _Optional[float] = ..., spent_usd: _Optional[float] = ...) -> None: ...
