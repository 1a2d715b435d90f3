"""Engines batches run against: routing of models to engines, and the HTTP client per engine.

The default engine is FILEDOCK_ENGINE_URL (every model). FILEDOCK_ENGINES_FILE (TOML) adds
named engines, tried in file order before the default:

    [engines.small]
    url = "http://127.0.0.1:8001/v1"   # with /v1: a line's url /v1/x goes to <url>/x
    api_key = "..."                     # or api_key_env = "NAME_OF_VARIABLE"
    models = ["gemma-3-*", "qwen3"]     # names or globs; absent: what GET <url>/models lists
    max_concurrency = 8                 # default FILEDOCK_BATCH_CONCURRENCY
    timeout_seconds = 600               # default FILEDOCK_BATCH_REQUEST_TIMEOUT_SECONDS
    headers = { "X-Tenant" = "batch" }
"""

from __future__ import annotations

import email.utils
import fnmatch
import logging
import os
import time
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from filedock.clock import Clock
from filedock.services.engine_http import EngineHttp, EngineHttpError
from filedock.settings import Settings, SettingsError

if TYPE_CHECKING:
    import httpx

log = logging.getLogger("filedock.engines")

DEFAULT_ENGINE = "default"
MODELS_CACHE_SECONDS = 60.0
KEYS = {"url", "api_key", "api_key_env", "models", "max_concurrency", "timeout_seconds", "headers"}


@dataclass(frozen=True)
class EngineConfig:
    """One OpenAI-compatible engine."""

    name: str
    url: str
    api_key: str = ""
    models: tuple[str, ...] | None = None  # None: learn them from GET <url>/models
    max_concurrency: int = 16
    timeout_seconds: float = 600.0
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class EngineAnswer:
    """What one request got: the engine's status and body, or a transport error."""

    status: int | None  # None: timeout or dropped connection
    body: bytes
    request_id: str | None
    retry_after: float | None  # seconds, from Retry-After / retry-after-ms
    error: str | None  # the transport error, when status is None
    latency: float

    @property
    def retryable(self) -> bool:
        return self.status is None or self.status in (408, 409, 429) or self.status >= 500


def load_engines(settings: Settings) -> list[EngineConfig]:
    """The engines of FILEDOCK_ENGINES_FILE in file order, then the default engine."""
    engines: list[EngineConfig] = []
    if settings.engines_file:
        engines.extend(_read_engines_file(Path(settings.engines_file), settings))
    if settings.engine_url:
        engines.append(
            EngineConfig(
                name=DEFAULT_ENGINE,
                url=settings.engine_url.rstrip("/"),
                api_key=settings.engine_api_key,
                models=None,
                max_concurrency=max(1, settings.batch_concurrency),
                timeout_seconds=settings.batch_request_timeout_seconds,
            )
        )
    return engines


def _read_engines_file(path: Path, settings: Settings) -> list[EngineConfig]:
    where = f"FILEDOCK_ENGINES_FILE ({path})"
    try:
        data = tomllib.loads(path.read_text())
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise SettingsError(f"{where}: {exc}") from exc
    tables = data.get("engines")
    if not isinstance(tables, dict) or not tables:
        raise SettingsError(f"{where}: needs at least one [engines.<name>] table")
    engines = []
    for name, table in tables.items():
        if not isinstance(table, dict):
            raise SettingsError(f"{where}: engines.{name} must be a table")
        unknown = set(table) - KEYS
        if unknown:
            raise SettingsError(f"{where}: engines.{name}: unknown keys {sorted(unknown)}")
        url = table.get("url")
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise SettingsError(f"{where}: engines.{name}.url must be an http(s) URL")
        models = table.get("models")
        if models is not None and (
            not isinstance(models, list) or not all(isinstance(m, str) for m in models)
        ):
            raise SettingsError(f"{where}: engines.{name}.models must be a list of strings")
        api_key = table.get("api_key", "")
        if "api_key_env" in table:
            api_key = os.environ.get(str(table["api_key_env"]), "")
        headers = table.get("headers", {})
        if not isinstance(headers, dict):
            raise SettingsError(f"{where}: engines.{name}.headers must be a table")
        texts = [str(api_key), *(f"{k}{v}" for k, v in headers.items())]
        if any(c in text for text in texts for c in "\r\n\0"):
            raise SettingsError(f"{where}: engines.{name}: a header or key has a line break")
        try:
            engines.append(
                EngineConfig(
                    name=name,
                    url=url.rstrip("/"),
                    api_key=str(api_key),
                    models=tuple(models) if models is not None else None,
                    max_concurrency=max(
                        1, int(table.get("max_concurrency", settings.batch_concurrency))
                    ),
                    timeout_seconds=float(
                        table.get("timeout_seconds", settings.batch_request_timeout_seconds)
                    ),
                    headers={str(k): str(v) for k, v in headers.items()},
                )
            )
        except (TypeError, ValueError) as exc:
            raise SettingsError(f"{where}: engines.{name}: {exc}") from exc
    return engines


def retry_after_seconds(headers: Mapping[str, str], now: float) -> float | None:
    """Retry-After (seconds or an HTTP date) or retry-after-ms, in seconds."""
    if "retry-after-ms" in headers:
        try:
            return max(0.0, float(headers["retry-after-ms"]) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - now)


class Engine:
    """One engine's configuration and its HTTP client.

    Batch requests go through services/engine_http.py (keep-alive HTTP/1.1, httptools): httpx
    cost about 0.5 ms of CPU per request here, which capped a batch far below what the engine
    allows. GET /models (rare, cached) stays on httpx.
    """

    def __init__(self, config: EngineConfig, clock: Clock) -> None:
        self.config = config
        self.name = config.name
        self.clock = clock
        headers = dict(config.headers)
        if config.api_key:
            headers["Authorization"] = f"Bearer {config.api_key}"
        headers["Content-Type"] = "application/json"
        self.headers = headers
        self.http = EngineHttp(
            config.url, headers, config.timeout_seconds, max_idle=config.max_concurrency
        )
        self._models_client: httpx.AsyncClient | None = None
        self._models: tuple[float, set[str] | None] | None = None

    async def send(self, url: str, body: bytes) -> EngineAnswer:
        """POST one request; `url` is the line's (`/v1/x` goes to `<engine url>/x`)."""
        started = time.monotonic()
        try:
            answer = await self.http.post(url.removeprefix("/v1"), body)
        except EngineHttpError as exc:
            return EngineAnswer(
                None, b"", None, None, f"{type(exc).__name__}: {exc}", time.monotonic() - started
            )
        headers = answer.headers
        return EngineAnswer(
            status=answer.status,
            body=answer.body,
            request_id=headers.get("x-request-id"),
            retry_after=(
                retry_after_seconds(headers, self.clock.time())
                if "retry-after" in headers or "retry-after-ms" in headers
                else None
            ),
            error=None,
            latency=time.monotonic() - started,
        )

    async def serves(self, model: str | None) -> bool:
        """Whether this engine takes `model` (a model the engine does not list: no)."""
        if model is None:
            return self.config.models is None
        if self.config.models is not None:
            return any(fnmatch.fnmatchcase(model, pattern) for pattern in self.config.models)
        listed = await self._listed_models()
        return listed is None or model in listed

    def prepare(self) -> httpx.AsyncClient:
        """The client of GET /models, built once: loading httpx and its TLS context takes tens
        of ms, better spent when the server starts than when the first batch is validated."""
        import httpx  # a server with no engine never loads it

        if self._models_client is None:
            self._models_client = httpx.AsyncClient(base_url=self.config.url, headers=self.headers)
        return self._models_client

    async def _listed_models(self) -> set[str] | None:
        """GET /models (cached a minute); None when the engine does not say."""
        import httpx  # on first use: a server with no engine never loads it

        now = time.monotonic()
        if self._models is not None and now - self._models[0] < MODELS_CACHE_SECONDS:
            return self._models[1]
        client = self.prepare()
        listed: set[str] | None = None
        try:
            response = await client.get("/models", timeout=10.0)
            if response.status_code == 200:
                data: Any = response.json().get("data")
                if isinstance(data, list):
                    listed = {str(m.get("id")) for m in data if isinstance(m, dict)}
        except (httpx.HTTPError, ValueError, AttributeError) as exc:
            log.info("engine %s: GET /models failed (%s); taking any model", self.name, exc)
        self._models = (now, listed)
        return listed

    async def close(self) -> None:
        await self.http.close()
        if self._models_client is not None:
            await self._models_client.aclose()


class EngineRouter:
    """Picks the engine for a model: the first configured engine that serves it."""

    def __init__(self, configs: list[EngineConfig], clock: Clock) -> None:
        self.engines = [Engine(c, clock) for c in configs]

    async def engine_for(self, model: str | None) -> Engine | None:
        for engine in self.engines:
            if await engine.serves(model):
                return engine
        return None

    async def close(self) -> None:
        for engine in self.engines:
            await engine.close()
