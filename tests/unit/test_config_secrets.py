"""Every settings field that can hold a secret (a DSN with its password, an API
key, a secret key) is kept out of its dataclass's repr, so a config object
logged or shown in a traceback never carries one."""

from __future__ import annotations

import dataclasses
import importlib
import re

import pytest

MODULES = ("audit_svc.config", "policy_svc.config", "kernel_svc.config", "gateway.config", "aosiq.launcher")
# Names that hold a secret; *_file, *_dir, *_id and *_ttl_* name where or how long, not the secret.
SECRET = re.compile(r"(database_url|_dsn$|dsn$|api_key$|secret|password|^token$)")
NOT_SECRET = re.compile(r"(_file|_dir|_id|_ttl_seconds|_seconds)$")


def secret_fields() -> list[tuple[str, str, bool]]:
    found = []
    for name in MODULES:
        module = importlib.import_module(name)
        for value in vars(module).values():
            if dataclasses.is_dataclass(value) and isinstance(value, type) and value.__module__ == name:
                for item in dataclasses.fields(value):
                    if SECRET.search(item.name) and not NOT_SECRET.search(item.name):
                        found.append((f"{value.__name__}.{item.name}", name, item.repr))
    return found


def test_the_scan_sees_the_known_secrets() -> None:
    names = {field for field, _, _ in secret_fields()}
    assert {"KernelConfig.database_url", "ProviderSettings.anthropic_api_key", "AuditConfig.database_url",
            "PolicyConfig.database_url", "UpSettings.database_url"} <= names, names


@pytest.mark.parametrize(("field", "module", "shown"), secret_fields())
def test_secret_fields_are_not_in_repr(field: str, module: str, shown: bool) -> None:
    assert not shown, f"{module}: {field} would appear in repr(); declare it field(repr=False)"
