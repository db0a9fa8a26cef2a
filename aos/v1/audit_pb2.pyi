import datetime

from aos.v1 import common_pb2 as _common_pb2
from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import struct_pb2 as _struct_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditEvent(_message.Message):
    __slots__ = ("session_id", "chain_seq", "event_type", "actor", "payload", "prev_hash", "hash", "created_at", "record")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    CHAIN_SEQ_FIELD_NUMBER: _ClassVar[int]
    EVENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    ACTOR_FIELD_NUMBER: _ClassVar[int]
    PAYLOAD_FIELD_NUMBER: _ClassVar[int]
    PREV_HASH_FIELD_NUMBER: _ClassVar[int]
    HASH_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    RECORD_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    chain_seq: int
    event_type: str
    actor: _common_pb2.Actor
    payload: _struct_pb2.Struct
    prev_hash: str
    hash: str
    created_at: _timestamp_pb2.Timestamp
    record: str
    def __init__(self, session_id: _Optional[str] = ..., chain_seq: _Optional[int] = ..., event_type: _Optional[str] = ..., actor: _Optional[_Union[_common_pb2.Actor, _Mapping]] = ..., payload: _Optional[_Union[_struct_pb2.Struct, _Mapping]] = ..., prev_hash: _Optional[str] = ..., hash: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., record: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("session_id", "after_seq", "limit")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    LIMIT_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    after_seq: int
    limit: int
    def __init__(self, session_id: _Optional[str] = ..., after_seq: _Optional[int] = ..., limit: _Optional[int] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("events", "next_after_seq")
    EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_AFTER_SEQ_FIELD_NUMBER: _ClassVar[int]
    events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_after_seq: int
    def __init__(self, events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_after_seq: _Optional[int] = ...) -> None: ...

class ListAnchorsRequest(_message.Message):
    __slots__ = ("session_id",)
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    def __init__(self, session_id: _Optional[str] = ...) -> None: ...

class ListAnchorsResponse(_message.Message):
    __slots__ = ("anchors", "public_keys")
    class PublicKeysEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    ANCHORS_FIELD_NUMBER: _ClassVar[int]
    PUBLIC_KEYS_FIELD_NUMBER: _ClassVar[int]
    anchors: _containers.RepeatedScalarFieldContainer[str]
    public_keys: _containers.ScalarMap[str, str]
    def __init__(self, anchors: _Optional[_Iterable[str]] = ..., public_keys: _Optional[_Mapping[str, str]] = ...) -> None: ...

class VerifySessionRequest(_message.Message):
    __slots__ = ("session_id", "trusted_seq", "trusted_hash")
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_SEQ_FIELD_NUMBER: _ClassVar[int]
    TRUSTED_HASH_FIELD_NUMBER: _ClassVar[int]
    session_id: str
    trusted_seq: int
    trusted_hash: str
    def __init__(self, session_id: _Optional[str] = ..., trusted_seq: _Optional[int] = ..., trusted_hash: _Optional[str] = ...) -> None: ...

class VerifySessionResponse(_message.Message):
    __slots__ = ("ok", "length", "head_hash", "first_bad_seq", "anchors_checked", "unanchored_entries", "unanchored_seconds", "problem")
    OK_FIELD_NUMBER: _ClassVar[int]
    LENGTH_FIELD_NUMBER: _ClassVar[int]
    HEAD_HASH_FIELD_NUMBER: _ClassVar[int]
    FIRST_BAD_SEQ_FIELD_NUMBER: _ClassVar[int]
    ANCHORS_CHECKED_FIELD_NUMBER: _ClassVar[int]
    UNANCHORED_ENTRIES_FIELD_NUMBER: _ClassVar[int]
    UNANCHORED_SECONDS_FIELD_NUMBER: _ClassVar[int]
    PROBLEM_FIELD_NUMBER: _ClassVar[int]
    ok: bool
    length: int
    head_hash: str
    first_bad_seq: int
    anchors_checked: int
    unanchored_entries: int
    unanchored_seconds: float
    problem: str
    def __init__(self, ok: _Optional[bool] = ..., length: _Optional[int] = ..., head_hash: _Optional[str] = ..., first_bad_seq: _Optional[int] = ..., anchors_checked: _Optional[int] = ..., unanchored_entries: _Optional[int] = ..., unanchored_seconds: _Optional[float] = ..., problem: _Optional[str] = ...) -> None: ...
