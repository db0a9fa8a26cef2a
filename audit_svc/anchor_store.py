"""Where anchors are kept outside PostgreSQL: an S3-compatible bucket, or a local dev directory.

Only the audit service is configured with the store's credentials; a
PostgreSQL-only attacker cannot reach it. Every anchor has its own object key,
so nothing is ever overwritten; with S3 object lock each object is also
retained (COMPLIANCE or GOVERNANCE) so even the credential holder cannot
delete it before the retention date. boto3 is blocking, so every call runs in
a worker thread.
"""

from __future__ import annotations

import asyncio
import os
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Protocol

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError

from audit_svc.config import S3Settings


class AnchorStoreError(Exception):
    """The store did not accept or return an anchor; the message names no secret."""


class AnchorStore(Protocol):
    kind: str  # "s3" | "local-dev", as health reports it

    async def put(self, key: str, body: bytes) -> None: ...

    async def list_session(self, session_id: str) -> list[bytes]:
        """Every stored object and object version under the session's prefix."""
        ...


def session_prefix(session_id: str) -> str:
    return f"anchors/{session_id}/"


class LocalAnchorStore:
    """A directory of read-only files, for running on one machine. Not tamper-proof
    against its own host; health reports it as `local-dev` so nobody mistakes it."""

    kind = "local-dev"

    def __init__(self, directory: Path):
        self._directory = directory

    def _path(self, key: str) -> Path:
        path = (self._directory / key).resolve()
        if self._directory.resolve() not in path.parents:
            raise AnchorStoreError("anchor key escapes the store directory")
        return path

    def _put(self, key: str, body: bytes) -> None:
        path = self._path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        except FileExistsError:
            if path.read_bytes() != body:
                raise AnchorStoreError(f"anchor {key} already exists with other content") from None
            return  # the same anchor written twice (a retried upload)
        with os.fdopen(fd, "wb") as handle:
            handle.write(body)

    async def put(self, key: str, body: bytes) -> None:
        try:
            await asyncio.to_thread(self._put, key, body)
        except OSError as exc:
            raise AnchorStoreError(f"local anchor store: {exc.strerror}") from exc

    def _list(self, session_id: str) -> list[bytes]:
        folder = self._path(session_prefix(session_id) + "x").parent
        if not folder.is_dir():
            return []
        return [path.read_bytes() for path in sorted(folder.iterdir()) if path.is_file()]

    async def list_session(self, session_id: str) -> list[bytes]:
        try:
            return await asyncio.to_thread(self._list, session_id)
        except OSError as exc:
            raise AnchorStoreError(f"local anchor store: {exc.strerror}") from exc


class S3AnchorStore:
    kind = "s3"

    def __init__(self, settings: S3Settings):
        self._settings = settings
        # Short timeouts and no retry storm: a store outage must show up as a
        # failure count quickly, and the anchorer retries on its own schedule.
        self._client = boto3.client(
            "s3",
            endpoint_url=settings.endpoint,
            region_name=settings.region,
            aws_access_key_id=settings.access_key_id,
            aws_secret_access_key=settings.secret_access_key,
            config=Config(
                connect_timeout=2,
                read_timeout=5,
                retries={"max_attempts": 1, "mode": "standard"},
                s3={"addressing_style": "path"},
            ),
        )
        self._object_lock: bool | None = None

    def _has_object_lock(self) -> bool:
        if self._object_lock is None:
            try:
                config = self._client.get_object_lock_configuration(Bucket=self._settings.bucket)
                enabled = config.get("ObjectLockConfiguration", {}).get("ObjectLockEnabled") == "Enabled"
            except ClientError as exc:
                if exc.response.get("Error", {}).get("Code") != "ObjectLockConfigurationNotFoundError":
                    raise
                enabled = False
            self._object_lock = enabled
        return self._object_lock

    def _put(self, key: str, body: bytes) -> None:
        extra: dict[str, Any] = {}
        if self._has_object_lock():
            extra["ObjectLockMode"] = self._settings.retention_mode
            extra["ObjectLockRetainUntilDate"] = datetime.now(UTC) + timedelta(days=self._settings.retention_days)
        self._client.put_object(
            Bucket=self._settings.bucket, Key=key, Body=body, ContentType="application/json", **extra
        )

    def _list(self, session_id: str) -> list[bytes]:
        bodies: list[bytes] = []
        paginator = self._client.get_paginator("list_object_versions")
        for page in paginator.paginate(Bucket=self._settings.bucket, Prefix=session_prefix(session_id)):
            for version in page.get("Versions", []):
                response = self._client.get_object(
                    Bucket=self._settings.bucket, Key=version["Key"], VersionId=version["VersionId"]
                )
                bodies.append(response["Body"].read())
        return bodies

    async def put(self, key: str, body: bytes) -> None:
        await self._call(self._put, key, body)

    async def list_session(self, session_id: str) -> list[bytes]:
        return await self._call(self._list, session_id)

    async def _call(self, function: Any, *args: Any) -> Any:
        try:
            return await asyncio.to_thread(function, *args)
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code", "unknown")
            raise AnchorStoreError(f"anchor store refused the request ({code})") from None
        except BotoCoreError as exc:
            # botocore messages carry the endpoint, never the credentials.
            raise AnchorStoreError(f"anchor store unreachable ({type(exc).__name__})") from None


def open_store(s3: S3Settings | None, local_dir: Path) -> AnchorStore:
    return S3AnchorStore(s3) if s3 is not None else LocalAnchorStore(local_dir)
