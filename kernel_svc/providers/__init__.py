"""LLM providers behind one neutral interface (see `base.py`)."""

from kernel_svc.providers.base import (
    BACKENDS,
    LlmRequest,
    LlmResponse,
    Message,
    Provider,
    ProviderError,
    ToolCall,
    ToolDef,
    Usage,
    estimate_input_tokens,
)
from kernel_svc.providers.factory import make_provider

__all__ = [
    "BACKENDS",
    "LlmRequest",
    "LlmResponse",
    "Message",
    "Provider",
    "ProviderError",
    "ToolCall",
    "ToolDef",
    "Usage",
    "estimate_input_tokens",
    "make_provider",
]
