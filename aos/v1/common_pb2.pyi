from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class Actor(_message.Message):
    __slots__ = ("service", "subject", "jti")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    JTI_FIELD_NUMBER: _ClassVar[int]
    service: str
    subject: str
    jti: str
    def __init__(self, service: _Optional[str] = ..., subject: _Optional[str] = ..., jti: _Optional[str] = ...) -> None: ...

class ErrorSummary(_message.Message):
    __slots__ = ("reason", "message")
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    reason: str
    message: str
    def __init__(self, reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class EvidenceItem(_message.Message):
    __slots__ = ("index", "tool", "args_json", "content", "injection_patterns")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    TOOL_FIELD_NUMBER: _ClassVar[int]
    ARGS_JSON_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    INJECTION_PATTERNS_FIELD_NUMBER: _ClassVar[int]
    index: int
    tool: str
    args_json: str
    content: str
    injection_patterns: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, index: _Optional[int] = ..., tool: _Optional[str] = ..., args_json: _Optional[str] = ..., content: _Optional[str] = ..., injection_patterns: _Optional[_Iterable[str]] = ...) -> None: ...
