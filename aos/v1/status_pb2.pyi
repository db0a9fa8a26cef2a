from aos.v1 import health_pb2 as _health_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("service", "anchors", "scheduler", "tool_servers", "sandbox")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    TOOL_SERVERS_FIELD_NUMBER: _ClassVar[int]
    SANDBOX_FIELD_NUMBER: _ClassVar[int]
    service: str
    anchors: _health_pb2.AnchorStats
    scheduler: _health_pb2.SchedulerStats
    tool_servers: _containers.RepeatedCompositeFieldContainer[_health_pb2.ToolServerHealth]
    sandbox: _health_pb2.SandboxHealth
    def __init__(self, service: _Optional[str] = ..., anchors: _Optional[_Union[_health_pb2.AnchorStats, _Mapping]] = ..., scheduler: _Optional[_Union[_health_pb2.SchedulerStats, _Mapping]] = ..., tool_servers: _Optional[_Iterable[_Union[_health_pb2.ToolServerHealth, _Mapping]]] = ..., sandbox: _Optional[_Union[_health_pb2.SandboxHealth, _Mapping]] = ...) -> None: ...
