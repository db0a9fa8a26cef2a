"""Which provider serves a backend name.

The backend modules import `base.py`; this module imports them, one at a time
and only when asked, so `base.py` depends on none of them and a kernel
configured for one backend never loads the other vendors' SDKs.
"""

from __future__ import annotations

from kernel_svc.providers.base import BACKENDS, Provider


def make_provider(backend: str, *, base_url: str | None, api_key: str | None, timeout_s: float = 60) -> Provider:
    """The provider for `backend`; `base_url=None` means the vendor's default endpoint."""
    if backend == "anthropic":
        from kernel_svc.providers.anthropic_provider import AnthropicProvider

        return AnthropicProvider(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
    if backend == "openai":
        from kernel_svc.providers.openai_provider import OpenAIProvider

        return OpenAIProvider(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
    if backend == "ollama":
        from kernel_svc.providers.ollama_provider import OllamaProvider

        return OllamaProvider(base_url=base_url, api_key=api_key, timeout_s=timeout_s)
    raise ValueError(f"unknown LLM backend {backend!r}; expected one of {', '.join(BACKENDS)}")
