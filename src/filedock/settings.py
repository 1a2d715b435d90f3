"""The one settings registry: each setting's name, type, default and help; FILEDOCK_* variables."""

from __future__ import annotations

import dataclasses
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ENV_PREFIX = "FILEDOCK_"
MiB = 1024 * 1024

_SIZE_UNITS = {
    "": 1,
    "b": 1,
    "kb": 1000,
    "mb": 1000**2,
    "gb": 1000**3,
    "tb": 1000**4,
    "kib": 1024,
    "mib": 1024**2,
    "gib": 1024**3,
    "tib": 1024**4,
}


class SettingsError(ValueError):
    """A setting's value cannot be used; the message names the setting."""


def _setting(default: Any, help: str, *, secret: bool = False, size: bool = False) -> Any:
    return field(default=default, metadata={"help": help, "secret": secret, "size": size})


def parse_size(text: str) -> int:
    """Parse `536870912`, `512MiB` or `200 MB` into a byte count."""
    match = re.fullmatch(r"\s*(\d+)\s*([a-zA-Z]*)\s*", text)
    if not match or match.group(2).lower() not in _SIZE_UNITS:
        raise ValueError(f"not a size: {text!r} (use bytes or a unit such as 512MiB)")
    return int(match.group(1)) * _SIZE_UNITS[match.group(2).lower()]


def _parse_bool(text: str) -> bool:
    lowered = text.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {text!r}")


@dataclass(frozen=True)
class Settings:
    """Everything filedock can be configured with. Build it with `Settings.from_env(...)`."""

    host: str = _setting("127.0.0.1", "Address to listen on.")
    port: int = _setting(8000, "TCP port to listen on.")
    data_dir: Path = _setting(
        Path("filedock-data"),
        "Folder for the embedded default: SQLite metadata and blobs on local disk.",
    )
    database_url: str = _setting(
        "",
        "Metadata database. Empty: sqlite:///<data-dir>/filedock.sqlite3. "
        "Several servers: postgresql://user:password@host:port/dbname.",
    )
    # --- scale-out: PostgreSQL pool and S3-compatible blob storage -------------------------
    database_pool_size: int = _setting(
        10, "Most PostgreSQL connections one server process keeps open."
    )
    storage_url: str = _setting(
        "",
        "Where file bytes live. Empty: <data-dir>/blobs on local disk. "
        "Several servers: s3://bucket/prefix (an S3-compatible object store).",
    )
    s3_endpoint_url: str = _setting(
        "", "S3 endpoint, e.g. http://ceph-rgw:8080. Empty: AWS S3 for the region."
    )
    s3_region: str = _setting("us-east-1", "S3 region (signing region for other S3 servers).")
    s3_access_key_id: str = _setting(
        "", "S3 access key id. Empty: the AWS default credential chain."
    )
    s3_secret_access_key: str = _setting("", "S3 secret access key.", secret=True)
    s3_path_style: bool = _setting(
        False,
        "Path-style S3 addressing (endpoint/bucket/key), needed by most non-AWS S3 servers.",
    )
    api_key: str = _setting(
        "",
        "An API key accepted besides the stored keys (bootstrap key of the default project).",
        secret=True,
    )
    max_file_bytes: int = _setting(
        512 * MiB, "Largest file accepted by POST /v1/files (bytes or e.g. 512MiB).", size=True
    )
    batch_max_bytes: int = _setting(
        200 * MiB, "Largest file accepted for purpose=batch (bytes or e.g. 200MiB).", size=True
    )
    batch_default_expiry_seconds: int = _setting(
        30 * 24 * 3600, "Expiry given to batch files uploaded without expires_after."
    )
    restrict_downloads: bool = _setting(
        False,
        "Refuse content downloads of purposes assistants and user_data, as api.openai.com does.",
    )
    sweep_interval_seconds: float = _setting(
        30.0, "How often the background sweeper removes expired files and lapsed blobs."
    )
    blob_lease_seconds: float = _setting(
        60.0,
        "Lease of a blob being written, validated or composed (renewed every third of it while "
        "the work is alive); the sweeper removes a blob whose lease lapsed and no row refers to.",
    )
    orphan_grace_seconds: float = _setting(
        600.0,
        "Safety margin for foreign files only: `filedock fsck --repair` removes stored bytes "
        "that no row and no blob-ledger intent accounts for once they are older than this.",
    )
    tombstone_retention_seconds: float = _setting(
        86400.0,
        "How long a deleted file's id stays usable as a list cursor (`after`).",
    )
    workers: int = _setting(1, "Number of server worker processes.")
    # Uploads API
    upload_max_bytes: int = _setting(
        8 * 1024 * MiB, "Largest file an Upload (POST /v1/uploads) may declare.", size=True
    )
    upload_part_max_bytes: int = _setting(
        64 * MiB, "Largest part accepted by POST /v1/uploads/{id}/parts.", size=True
    )
    upload_expiry_seconds: int = _setting(
        3600, "Seconds after creation when a pending Upload expires and its parts are removed."
    )
    log_level: str = _setting("info", "Log level: debug, info, warning or error.")
    # observability (metrics and logs; see docs/metrics.md)
    log_format: str = _setting(
        "text", "Log format: text (readable) or json (one object per line, with the request id)."
    )
    access_log: bool = _setting(
        False, "Log one line per request: method, route, status, duration and request id."
    )
    metrics_enabled: bool = _setting(True, "Serve Prometheus metrics at GET /metrics (no key).")

    # processing and validation
    reject_invalid: bool = _setting(
        False,
        "Strict mode: reject invalid content with 400 at upload instead of storing a file in "
        "status error (the bytes are not kept).",
    )
    processing_concurrency: int = _setting(
        2, "Files whose content one server checks at the same time."
    )
    processing_lease_seconds: float = _setting(
        300.0,
        "How long a server's claim on a file being processed lasts without renewal; after a "
        "crash another server (or a restart) takes the file over once it runs out.",
    )
    processing_poll_seconds: float = _setting(
        5.0, "How often a server looks for files still waiting to be processed."
    )
    processing_delay_seconds: float = _setting(
        0.0, "Test-only: wait this long before checking each file (to observe status uploaded)."
    )
    report_max_errors: int = _setting(
        100, "Errors (and warnings) listed in a validation report; the total is always counted."
    )
    fine_tune_min_examples: int = _setting(
        10,
        "Examples a fine-tuning job's training file needs; a fine-tune file with fewer gets a "
        "too_few_examples warning (a validation file may be smaller).",
    )
    fine_tune_context_tokens: int = _setting(
        65536, "Tokens above which a fine-tune example gets an example_too_long warning."
    )
    fine_tune_images_per_example: int = _setting(
        10, "Most images one fine-tuning example may hold."
    )
    fine_tune_image_examples: int = _setting(
        50000, "Most examples with images a fine-tune file may hold."
    )
    image_max_bytes: int = _setting(
        10 * MiB,
        "Largest image: a vision file, or one image inside a fine-tuning example "
        "(bytes or e.g. 10MiB).",
        size=True,
    )
    batch_max_requests: int = _setting(50000, "Most requests (lines) a batch file may have.")
    batch_max_embedding_inputs: int = _setting(
        50000, "Most embedding inputs across all requests of a /v1/embeddings batch file."
    )
    assistants_max_tokens: int = _setting(
        2_000_000, "Most tokens (o200k_base) an assistants file may hold."
    )

    # projects and quotas
    storage_quota_bytes: int = _setting(
        2_500_000_000_000,
        "Default storage quota per project (bytes or e.g. 2500GB); a project may override it.",
        size=True,
    )
    requests_per_minute: int = _setting(
        60000,
        "Default requests per minute per API key (token bucket; one budget across all servers "
        "on PostgreSQL); 0 = unlimited.",
    )
    uploads_per_minute: int = _setting(
        1000,
        "Default uploads (POST /v1/files, POST /v1/uploads) per minute per API key; 0 = unlimited.",
    )
    quota_lease_seconds: int = _setting(
        900,
        "How long an upload's quota hold lives without progress before the sweeper frees it.",
    )
    audit_log_path: str = _setting(
        "",
        "File for the JSON audit trail (logger filedock.audit); empty: the server writes it to "
        "standard error and CLI commands to <data_dir>/audit.log.",
    )

    # Batch API: engines, the runner, webhooks (see docs/batches.md)
    engine_url: str = _setting(
        "",
        "Base URL (with /v1) of the default OpenAI-compatible engine batches run against, "
        "e.g. http://127.0.0.1:8001/v1. Empty: only the engines of engines_file.",
    )
    engine_api_key: str = _setting(
        "", "API key sent to the default engine as Authorization: Bearer.", secret=True
    )
    engines_file: str = _setting(
        "",
        "TOML file routing models (names or globs) to engines: url, api_key, models, "
        "max_concurrency, timeout_seconds, headers.",
    )
    batch_concurrency: int = _setting(
        16,
        "Most batch requests in flight per engine, across all servers sharing the database "
        "(an engine's max_concurrency in engines_file overrides it).",
    )
    batch_window_seconds: int = _setting(
        86400,
        "What a completion_window of 24h means: a batch not finished this long after its "
        "creation expires.",
    )
    batch_max_retries: int = _setting(
        5,
        "Retries of one batch request after 429, 5xx, a timeout or a dropped connection; "
        "then it goes to the error file.",
    )
    batch_retry_base_seconds: float = _setting(
        1.0,
        "First retry delay of a batch request; doubles per retry (with jitter, at most 300 s) "
        "unless the engine's Retry-After asks for longer.",
    )
    batch_request_timeout_seconds: float = _setting(
        600.0, "Timeout of one request to an engine (an engine's timeout_seconds overrides it)."
    )
    batch_lease_seconds: float = _setting(
        60.0,
        "How long a server's claim on batch requests and engine slots lasts without renewal; "
        "after a crash other servers (or a restart) take them over once it runs out.",
    )
    batch_poll_seconds: float = _setting(
        1.0, "How often a server looks for batch work (new, running, cancelled, expired)."
    )
    batch_cancel_grace_seconds: float = _setting(
        30.0,
        "How long requests in flight may still finish after a batch is cancelled or expires "
        "before they are aborted.",
    )
    webhook_url: str = _setting(
        "",
        "URL receiving batch.completed/failed/cancelled/expired events (Standard Webhooks "
        "signed). Empty: no webhooks.",
    )
    webhook_secret: str = _setting(
        "",
        "Secret signing webhooks (whsec_<base64> as OpenAI issues them, or any other string, "
        "used as its UTF-8 bytes).",
        secret=True,
    )
    webhook_max_attempts: int = _setting(
        10, "Delivery attempts of one webhook event (exponential backoff) before giving up."
    )

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read FILEDOCK_* variables from `env` (default os.environ), then apply overrides."""
        env = os.environ if env is None else env
        values: dict[str, Any] = {}
        for f in dataclasses.fields(cls):
            name = ENV_PREFIX + f.name.upper()
            if name in env:
                values[f.name] = _convert(f, env[name], name)
        for key, value in overrides.items():
            if value is None:
                continue
            f = _field(key)
            values[key] = (
                _convert(f, value, "--" + key.replace("_", "-"))
                if isinstance(value, str) and f.type != "str"
                else value
            )
        return cls(**values)

    def replace(self, **changes: Any) -> Settings:
        return dataclasses.replace(self, **changes)

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{(self.data_dir / 'filedock.sqlite3').resolve()}"

    def __repr__(self) -> str:
        parts = []
        for f in dataclasses.fields(self):
            value = getattr(self, f.name)
            if f.metadata.get("secret") and value:
                value = "***"
            parts.append(f"{f.name}={value!r}")
        return f"Settings({', '.join(parts)})"


def _field(name: str) -> dataclasses.Field[Any]:
    for f in dataclasses.fields(Settings):
        if f.name == name:
            return f
    raise SettingsError(f"unknown setting: {name}")


# A setting's text read as its declared type (the annotations are strings); others stay text.
_CONVERTERS: dict[Any, Callable[[str], Any]] = {
    "int": int,
    "float": float,
    "bool": _parse_bool,
    "Path": Path,
}


def _convert(f: dataclasses.Field[Any], raw: str, source: str) -> Any:
    try:
        if f.metadata.get("size"):
            return parse_size(raw)
        return _CONVERTERS.get(f.type, str)(raw)
    except ValueError as exc:
        raise SettingsError(f"{source}: {exc}") from exc


def describe() -> list[dict[str, Any]]:
    """Every setting with its environment variable, default and help (for docs and `--help`)."""
    rows = []
    for f in dataclasses.fields(Settings):
        rows.append(
            {
                "name": f.name,
                "env": ENV_PREFIX + f.name.upper(),
                "default": f.default,
                "help": f.metadata["help"],
                "secret": f.metadata["secret"],
            }
        )
    return rows
