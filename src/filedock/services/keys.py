"""API keys: issue, authenticate (hashed, constant-time), list and revoke."""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from filedock.clock import Clock
from filedock.errors import AuthenticationFailed, InvalidRequest, NotFound
from filedock.ids import new_api_key, new_key_id
from filedock.metadata.base import MetadataStore
from filedock.models import DEFAULT_PROJECT_ID, KEY_ROLES, ROLE_ADMIN, ROLE_MEMBER, ApiKeyRecord
from filedock.services import audit

PREFIX_LENGTH = 12
# The bootstrap key's fixed id: servers starting at once on an empty database all try to insert
# it, and the primary key lets exactly one succeed.
BOOTSTRAP_KEY_ID = "key_bootstrap"


def hash_key(secret: str) -> str:
    # Keys are long random strings, so a plain SHA-256 is a sound verifier (no salt or KDF needed).
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def mask_key(secret: str) -> str:
    """What an error message may show of a key: its head and tail, starred in between."""
    if len(secret) <= 8:
        return "*" * len(secret)
    return secret[:3] + "*" * (len(secret) - 7) + secret[-4:]


@dataclass(frozen=True)
class Principal:
    """Who is calling: the project every request is scoped to."""

    project_id: str
    key_id: str
    key_prefix: str = ""
    is_admin: bool = False


class ApiKeys:
    """Authentication against stored keys plus an optional configured bootstrap key."""

    def __init__(
        self,
        metadata: MetadataStore,
        clock: Clock,
        configured_key: str = "",
        *,
        insert_bootstrap: Callable[[ApiKeyRecord], Awaitable[bool]] | None = None,
    ) -> None:
        self._metadata = metadata
        self._clock = clock
        self._configured = configured_key
        self._insert_bootstrap = insert_bootstrap

    async def authenticate(self, authorization: str | None) -> Principal:
        """Check an `Authorization` header value; raise AuthenticationFailed when it fails."""
        if not authorization:
            raise AuthenticationFailed(
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        scheme, _, secret = authorization.partition(" ")
        secret = secret.strip()
        if scheme.lower() != "bearer" or not secret:
            raise AuthenticationFailed("Invalid Authorization header: expected 'Bearer <API key>'.")
        if self._configured and hmac.compare_digest(
            secret.encode("utf-8"), self._configured.encode("utf-8")
        ):
            # The configured bootstrap key administers the server (see docs/projects.md).
            return Principal(DEFAULT_PROJECT_ID, "configured", "configured", is_admin=True)
        digest = hash_key(secret)
        record = await self._metadata.find_api_key(digest)
        if (
            record is None
            or record.revoked_at is not None
            or (record.expires_at is not None and record.expires_at <= self._clock.time())
            or not hmac.compare_digest(record.key_hash, digest)
        ):
            # Revoked and expired keys get the same answer as unknown ones.
            raise AuthenticationFailed(f"Incorrect API key provided: {mask_key(secret)}.")
        return Principal(record.project_id, record.id, record.prefix, record.is_admin)

    async def create_key(
        self,
        name: str = "",
        project_id: str = DEFAULT_PROJECT_ID,
        *,
        role: str = ROLE_MEMBER,
        expires_at: int | None = None,
    ) -> tuple[ApiKeyRecord, str]:
        """A new key; the secret is returned here once and never stored."""
        record, secret = self._new_key(name, project_id, role, expires_at)
        await self._metadata.insert_api_key(record)
        self._created(record)
        return record, secret

    def _new_key(
        self, name: str, project_id: str, role: str, expires_at: int | None, key_id: str = ""
    ) -> tuple[ApiKeyRecord, str]:
        if role not in KEY_ROLES:
            raise InvalidRequest(f"'{role}' is not one of {list(KEY_ROLES)} - 'role'", param="role")
        now = self._clock.now()
        if expires_at is not None and expires_at <= now:
            raise InvalidRequest("expires_at must be in the future", param="expires_at")
        secret = new_api_key()
        record = ApiKeyRecord(
            id=key_id or new_key_id(),
            project_id=project_id,
            name=name,
            prefix=secret[:PREFIX_LENGTH],
            key_hash=hash_key(secret),
            created_at=now,
            expires_at=expires_at,
            role=role,
        )
        return record, secret

    def _audit(self, event: str, record: ApiKeyRecord, **fields: Any) -> None:
        """An audit event about one key (its project and id, and `fields`)."""
        audit.record(
            event, self._clock.time(), project_id=record.project_id, key_id=record.id, **fields
        )

    def _created(self, record: ApiKeyRecord) -> None:
        self._audit(
            "key.created",
            record,
            new_key_prefix=record.prefix,
            role=record.role,
            expires_at=record.expires_at,
        )

    async def list_keys(self, project_id: str | None = None) -> list[ApiKeyRecord]:
        if project_id is not None:
            return await self._metadata.list_project_api_keys(project_id)
        return await self._metadata.list_api_keys()

    async def get_key(self, project_id: str, key_id: str) -> ApiKeyRecord:
        """A key of the project (404 for another project's key, as for a missing one)."""
        record = await self._metadata.get_api_key(key_id)
        if record is None or record.project_id != project_id:
            raise NotFound(f"No such API key: {key_id}", param="api_key_id")
        return record

    async def revoke(self, key_id_or_prefix: str) -> ApiKeyRecord:
        record = await self._metadata.revoke_api_key(key_id_or_prefix, self._clock.now())
        if record is None:
            raise InvalidRequest(f"No such API key: {key_id_or_prefix}", param="key")
        self._audit("key.revoked", record, revoked_key_prefix=record.prefix)
        return record

    async def ensure_bootstrap_key(self) -> str | None:
        """With no configured and no stored key, create an admin key and return its secret."""
        if self._configured or await self._metadata.list_api_keys():
            return None
        if self._insert_bootstrap is None:
            _, secret = await self.create_key("bootstrap", role=ROLE_ADMIN)
            return secret
        record, secret = self._new_key(
            "bootstrap", DEFAULT_PROJECT_ID, ROLE_ADMIN, None, BOOTSTRAP_KEY_ID
        )
        if not await self._insert_bootstrap(record):
            return None  # another server starting at the same time created it
        self._created(record)
        return secret
