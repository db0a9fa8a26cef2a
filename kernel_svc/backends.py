"""One provider client per backend, built on first use with the kernel's own keys."""

from __future__ import annotations

from collections.abc import Callable

from aos_common.errors import InvalidArgument
from kernel_svc.config import ProviderSettings
from kernel_svc.providers.base import BACKENDS, Provider
from kernel_svc.providers.factory import make_provider

ProviderFactory = Callable[..., Provider]


class Backends:
    def __init__(self, settings: ProviderSettings, factory: ProviderFactory = make_provider):
        self._settings = settings
        self._factory = factory
        self._clients: dict[str, Provider] = {}

    def get(self, backend: str) -> Provider:
        if backend not in BACKENDS:
            raise InvalidArgument(f"unknown LLM backend {backend!r}")
        if backend not in self._clients:
            base_url, api_key = self._settings.for_backend(backend)
            self._clients[backend] = self._factory(
                backend, base_url=base_url, api_key=api_key, timeout_s=self._settings.timeout_seconds
            )
        return self._clients[backend]

    def warm(self) -> None:
        """Build every client now. The SDK imports take seconds of CPU; done on a
        worker's first LLM call they would stall its heartbeat into a false orphan."""
        for backend in BACKENDS:
            self.get(backend)
