"""An MCP tool result as text for the model, bounded.

Text parts, embedded text resources and `structuredContent` are kept (each
clipped, the whole clipped again); images, audio and binary resources become a
placeholder line, since the model receives text only. The kernel wraps the
result as untrusted output afterwards, like any tool's (kernel_svc/untrusted.py).
"""

from __future__ import annotations

import json

from mcp import types

from kernel_svc.tools.registry import ToolError

MAX_RESULT_CHARS = 64 * 1024


def render(result: types.CallToolResult, limit: int = MAX_RESULT_CHARS) -> str:
    """The result's text; a result the server marks `isError` is a ToolError with that text."""
    parts: list[str] = []
    used = 0
    for part in _parts(result):
        if used >= limit:
            parts.append(f"... further content omitted (result over {limit} characters)")
            break
        clipped = part[: limit - used]
        if len(clipped) < len(part):
            clipped += f"\n... truncated at {limit} characters"
        parts.append(clipped)
        used += len(clipped)
    text = "\n".join(parts)
    if result.is_error:
        raise ToolError(f"the tool server reported an error: {text or 'no detail given'}")
    return text


def _parts(result: types.CallToolResult) -> list[str]:
    parts = [_content(item) for item in result.content]
    if result.structured_content is not None:
        parts.append("structured content: " + json.dumps(result.structured_content, ensure_ascii=False,
                                                         sort_keys=True, default=str))
    return parts


def _content(item: types.ContentBlock) -> str:
    if isinstance(item, types.TextContent):
        return item.text
    if isinstance(item, types.EmbeddedResource):
        resource = item.resource
        if isinstance(resource, types.TextResourceContents):
            return f"resource {resource.uri}:\n{resource.text}"
        return f"[binary resource {resource.uri} ({resource.mime_type or 'unknown type'}) not shown]"
    if isinstance(item, types.ImageContent):
        return f"[image ({item.mime_type}, {len(item.data) * 3 // 4} bytes) not shown]"
    if isinstance(item, types.AudioContent):
        return f"[audio ({item.mime_type}, {len(item.data) * 3 // 4} bytes) not shown]"
    if isinstance(item, types.ResourceLink):
        return f"[resource link {item.uri}]"
    return f"[{getattr(item, 'type', 'unknown')} content not shown]"
