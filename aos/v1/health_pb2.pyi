import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AnchorStats(_message.Message):
    __slots__ = ("successes", "failures", "last_success_at", "store", "backlog")
    SUCCESSES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_SUCCESS_AT_FIELD_NUMBER: _ClassVar[int]
    STORE_FIELD_NUMBER: _ClassVar[int]
    BACKLOG_FIELD_NUMBER: _ClassVar[int]
    successes: int
    failures: int
    last_success_at: _timestamp_pb2.Timestamp
    store: str
    backlog: int
    def __init__(self, successes: _Optional[int] = ..., failures: _Optional[int] = ..., last_success_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., store: _Optional[str] = ..., backlog: _Optional[int] = ...) -> None: ...

class SchedulerStats(_message.Message):
    __slots__ = ("status", "workers", "runnable", "running", "waiting_approval", "suspended_token_expired", "orphans_recovered")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    WORKERS_FIELD_NUMBER: _ClassVar[int]
    RUNNABLE_FIELD_NUMBER: _ClassVar[int]
    RUNNING_FIELD_NUMBER: _ClassVar[int]
    WAITING_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    SUSPENDED_TOKEN_EXPIRED_FIELD_NUMBER: _ClassVar[int]
    ORPHANS_RECOVERED_FIELD_NUMBER: _ClassVar[int]
    status: str
    workers: int
    runnable: int
    running: int
    waiting_approval: int
    suspended_token_expired: int
    orphans_recovered: int
    def __init__(self, status: _Optional[str] = ..., workers: _Optional[int] = ..., runnable: _Optional[int] = ..., running: _Optional[int] = ..., waiting_approval: _Optional[int] = ..., suspended_token_expired: _Optional[int] = ..., orphans_recovered: _Optional[int] = ...) -> None: ...

class ServiceHealth(_message.Message):
    __slots__ = ("name", "status", "detail")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    name: str
    status: str
    detail: str
    def __init__(self, name: _Optional[str] = ..., status: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class ToolServerHealth(_message.Message):
    __slots__ = ("name", "state", "failures")
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: str
    failures: int
    def __init__(self, name: _Optional[str] = ..., state: _Optional[str] = ..., failures: _Optional[int] = ...) -> None: ...

class SandboxHealth(_message.Message):
    __slots__ = ("status", "detail")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    DETAIL_FIELD_NUMBER: _ClassVar[int]
    status: str
    detail: str
    def __init__(self, status: _Optional[str] = ..., detail: _Optional[str] = ...) -> None: ...

class GetHealthRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetHealthResponse(_message.Message):
    __slots__ = ("status", "auth_mode", "audit_anchors", "scheduler", "services", "tool_servers", "sandbox")
    STATUS_FIELD_NUMBER: _ClassVar[int]
    AUTH_MODE_FIELD_NUMBER: _ClassVar[int]
    AUDIT_ANCHORS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    TOOL_SERVERS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    status: str
    auth_mode: str
    audit_anchors: AnchorStats
    scheduler: SchedulerStats
    services: _containers.RepeatedCompositeFieldContainer[ServiceHealth]
    tool_servers: _containers.RepeatedCompositeFieldContainer[ToolServerHealth]
    sandbox: SandboxHealth
    def __init__(self, status: _Optional[str] = ..., auth_mode: _Optional[str] = ..., audit_anchors: _Optional[_Union[AnchorStats, _Mapping]] = ..., scheduler: _Optional[_Union[SchedulerStats, _Mapping]] = ..., services: _Optional[_Iterable[_Union[ServiceHealth, _Mapping]]] = ..., tool_servers: _Optional[_Iterable[_Union[ToolServerHealth, _Mapping]]] = ..., sandbox: _Optional[_Union[SandboxHealth, _Mapping]] = ...) -> None: ...
