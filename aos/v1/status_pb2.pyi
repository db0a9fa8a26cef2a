from aos.v1 import health_pb2 as _health_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetStatusRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class GetStatusResponse(_message.Message):
    __slots__ = ("service", "anchors", "scheduler")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    SCHEDULER_FIELD_NUMBER: _ClassVar[int]
    service: str
    anchors: _health_pb2.AnchorStats
    scheduler: _health_pb2.SchedulerStats
    def __init__(self, service: _Optional[str] = ..., anchors: _Optional[_Union[_health_pb2.AnchorStats, _Mapping]] = ..., scheduler: _Optional[_Union[_health_pb2.SchedulerStats, _Mapping]] = ...) -> None: ...
