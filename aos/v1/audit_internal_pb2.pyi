from aos.v1 import common_pb2 as _common_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AppendEventRequest(_message.Message):
    __slots__ = ("session_id", "event_type", "actor", "payload_json")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_JSON_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    event_type: str
    actor: _common_pb2.Actor
    payload_json: str
    def __init__(self, session_id: _Optional[str] = ..., event_type: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., payload_json: _Optional[str] = ...) -> None: ...

class AppendEventResponse(_message.Message):
    __slots__ = ("chain_seq", "hash")
    CHAIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    chain_seq: int
    hash: str
    def __init__(self, chain_seq: _Optional[int] = ..., hash: _Optional[str] = ...) -> None: ...
