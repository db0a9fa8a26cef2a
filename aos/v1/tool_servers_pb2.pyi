import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ToolOverride(_message.Message):
    __slots__ = ("reversible", "blast_radius", "idempotent", "open_world")
    REVERSIBLE_FIELD_NUMBER: _ClassVar[int]
    BLAST_RADIUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    OPEN_WORLD_FIELD_NUMBER: _ClassVar[int]
    reversible: bool
    blast_radius: str
    idempotent: bool
    open_world: bool
    def __init__(self, reversible: _Optional[bool] = ..., blast_radius: _Optional[str] = ..., idempotent: _Optional[bool] = ..., open_world: _Optional[bool] = ...) -> None: ...

class McpTool(_message.Message):
    __slots__ = ("name", "description", "input_schema", "annotations", "reversible", "blast_radius", "idempotent", "definition_hash", "findings", "status", "approved_description", "approved_input_schema", "approved_definition_hash", "open_world")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    ANNOTATIONS_FIELD_NUMBER: _ClassVar[int]
    REVERSIBLE_FIELD_NUMBER: _ClassVar[int]
    BLAST_RADIUS_FIELD_NUMBER: _ClassVar[int]
    IDEMPOTENT_FIELD_NUMBER: _ClassVar[int]
    DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    FINDINGS_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    APPROVED_DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    APPROVED_INPUT_SCHEMA_FIELD_NUMBER: _ClassVar[int]
    APPROVED_DEFINITION_HASH_FIELD_NUMBER: _ClassVar[int]
    OPEN_WORLD_FIELD_NUMBER: _ClassVar[int]
    name: str
    description: str
    input_schema: str
    annotations: str
    reversible: bool
    blast_radius: str
    idempotent: bool
    definition_hash: str
    findings: _containers.RepeatedScalarFieldContainer[str]
    status: str
    approved_description: str
    approved_input_schema: str
    approved_definition_hash: str
    open_world: bool
    def __init__(self, name: _Optional[str] = ..., description: _Optional[str] = ..., input_schema: _Optional[str] = ..., annotations: _Optional[str] = ..., reversible: _Optional[bool] = ..., blast_radius: _Optional[str] = ..., idempotent: _Optional[bool] = ..., definition_hash: _Optional[str] = ..., findings: _Optional[_Iterable[str]] = ..., status: _Optional[str] = ..., approved_description: _Optional[str] = ..., approved_input_schema: _Optional[str] = ..., approved_definition_hash: _Optional[str] = ..., open_world: _Optional[bool] = ...) -> None: ...

class ToolServer(_message.Message):
    __slots__ = ("name", "transport", "state", "tools", "definitions_hash", "pending_definitions_hash", "command", "url", "env_names", "header_names", "failures", "last_error", "created_by", "created_at", "overrides")
    class OverridesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ToolOverride
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ToolOverride, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    TOOLS_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_HASH_FIELD_NUMBER: _ClassVar[int]
    PENDING_DEFINITIONS_HASH_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ENV_NAMES_FIELD_NUMBER: _ClassVar[int]
    HEADER_NAMES_FIELD_NUMBER: _ClassVar[int]
    FAILURES_FIELD_NUMBER: _ClassVar[int]
    LAST_ERROR_FIELD_NUMBER: _ClassVar[int]
    CREATED_BY_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    name: str
    transport: str
    state: str
    tools: _containers.RepeatedCompositeFieldContainer[McpTool]
    definitions_hash: str
    pending_definitions_hash: str
    command: _containers.RepeatedScalarFieldContainer[str]
    url: str
    env_names: _containers.RepeatedScalarFieldContainer[str]
    header_names: _containers.RepeatedScalarFieldContainer[str]
    failures: int
    last_error: str
    created_by: str
    created_at: _timestamp_pb2.Timestamp
    overrides: _containers.MessageMap[str, ToolOverride]
    def __init__(self, name: _Optional[str] = ..., transport: _Optional[str] = ..., state: _Optional[str] = ..., tools: _Optional[_Iterable[_Union[McpTool, _Mapping]]] = ..., definitions_hash: _Optional[str] = ..., pending_definitions_hash: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., url: _Optional[str] = ..., env_names: _Optional[_Iterable[str]] = ..., header_names: _Optional[_Iterable[str]] = ..., failures: _Optional[int] = ..., last_error: _Optional[str] = ..., created_by: _Optional[str] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., overrides: _Optional[_Mapping[str, ToolOverride]] = ...) -> None: ...

class RegisterToolServerRequest(_message.Message):
    __slots__ = ("name", "transport", "command", "env", "url", "headers", "overrides")
    class EnvEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class HeadersEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    class OverridesEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: ToolOverride
        def __init__(self, key: _Optional[str] = ..., value: _Optional[_Union[ToolOverride, _Mapping]] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    TRANSPORT_FIELD_NUMBER: _ClassVar[int]
    COMMAND_FIELD_NUMBER: _ClassVar[int]
    ENV_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    HEADERS_FIELD_NUMBER: _ClassVar[int]
    OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    name: str
    transport: str
    command: _containers.RepeatedScalarFieldContainer[str]
    env: _containers.ScalarMap[str, str]
    url: str
    headers: _containers.ScalarMap[str, str]
    overrides: _containers.MessageMap[str, ToolOverride]
    def __init__(self, name: _Optional[str] = ..., transport: _Optional[str] = ..., command: _Optional[_Iterable[str]] = ..., env: _Optional[_Mapping[str, str]] = ..., url: _Optional[str] = ..., headers: _Optional[_Mapping[str, str]] = ..., overrides: _Optional[_Mapping[str, ToolOverride]] = ...) -> None: ...

class RegisterToolServerResponse(_message.Message):
    __slots__ = ("tool_server",)
    TOOL_SERVER_FIELD_NUMBER: _ClassVar[int]
    tool_server: ToolServer
    def __init__(self, tool_server: _Optional[_Union[ToolServer, _Mapping]] = ...) -> None: ...

class ListToolServersRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class ListToolServersResponse(_message.Message):
    __slots__ = ("tool_servers",)
    TOOL_SERVERS_FIELD_NUMBER: _ClassVar[int]
    tool_servers: _containers.RepeatedCompositeFieldContainer[ToolServer]
    def __init__(self, tool_servers: _Optional[_Iterable[_Union[ToolServer, _Mapping]]] = ...) -> None: ...

class GetToolServerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class GetToolServerResponse(_message.Message):
    __slots__ = ("tool_server",)
    TOOL_SERVER_FIELD_NUMBER: _ClassVar[int]
    tool_server: ToolServer
    def __init__(self, tool_server: _Optional[_Union[ToolServer, _Mapping]] = ...) -> None: ...

class ApproveToolDefinitionsRequest(_message.Message):
    __slots__ = ("name", "definitions_hash")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DEFINITIONS_HASH_FIELD_NUMBER: _ClassVar[int]
    name: str
    definitions_hash: str
    def __init__(self, name: _Optional[str] = ..., definitions_hash: _Optional[str] = ...) -> None: ...

class ApproveToolDefinitionsResponse(_message.Message):
    __slots__ = ("tool_server",)
    TOOL_SERVER_FIELD_NUMBER: _ClassVar[int]
    tool_server: ToolServer
    def __init__(self, tool_server: _Optional[_Union[ToolServer, _Mapping]] = ...) -> None: ...

class RefreshToolServerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RefreshToolServerResponse(_message.Message):
    __slots__ = ("tool_server",)
    TOOL_SERVER_FIELD_NUMBER: _ClassVar[int]
    tool_server: ToolServer
    def __init__(self, tool_server: _Optional[_Union[ToolServer, _Mapping]] = ...) -> None: ...

class RemoveToolServerRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class RemoveToolServerResponse(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...
