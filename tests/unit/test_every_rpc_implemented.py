"""Every RPC of every service in protos/ is implemented by the service that owns it:
a method left to the generated base class would answer UNIMPLEMENTED at run time."""

from __future__ import annotations

import importlib
import inspect
import pkgutil

import pytest
from google.protobuf.descriptor import ServiceDescriptor

import aos.v1

SERVICE_MODULES = ("audit_svc.service", "kernel_svc.service", "policy_svc.service")
# Served by the gateway itself rather than by a servicer class.
GATEWAY_NATIVE = {"aos.v1.HealthService"}


def generated_services() -> dict[str, ServiceDescriptor]:
    services = {}
    for info in pkgutil.iter_modules(aos.v1.__path__):
        if info.name.endswith("_pb2"):
            module = importlib.import_module(f"aos.v1.{info.name}")
            for service in module.DESCRIPTOR.services_by_name.values():
                services[service.full_name] = service
    return services


def servicers() -> list[tuple[type, type]]:
    """(our class, the generated base it implements)."""
    found = []
    for name in SERVICE_MODULES:
        for _, cls in inspect.getmembers(importlib.import_module(name), inspect.isclass):
            for base in cls.__mro__[1:]:
                if base.__module__.startswith("aos.v1.") and base.__name__.endswith("Servicer"):
                    found.append((cls, base))
    return found


@pytest.mark.parametrize(("cls", "base"), servicers(), ids=lambda c: c.__name__)
def test_servicer_overrides_every_rpc(cls: type, base: type) -> None:
    service_name = "aos.v1." + base.__name__.removesuffix("Servicer")
    service = generated_services()[service_name]
    missing = [m.name for m in service.methods if getattr(cls, m.name) is getattr(base, m.name)]
    assert missing == [], f"{cls.__name__} leaves {missing} unimplemented"


def test_every_service_has_an_implementation() -> None:
    implemented = {"aos.v1." + base.__name__.removesuffix("Servicer") for _, base in servicers()}
    assert set(generated_services()) - implemented == GATEWAY_NATIVE
