"""The boto3 side of the S3 blob store: where the bucket is, the client's settings, the bucket
check at start-up, and how botocore's errors become our own."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

import boto3
import botocore.config
import botocore.exceptions

from filedock.errors import StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MISSING = {"404", "NoSuchKey", "NotFound", "NoSuchBucket"}
STORAGE_SETTING = "FILEDOCK_STORAGE_URL"


@dataclass(frozen=True)
class S3Location:
    """`s3://bucket/prefix` split into its parts (prefix without surrounding slashes)."""

    bucket: str
    prefix: str

    @classmethod
    def parse(cls, url: str) -> S3Location:
        parts = urlsplit(url)
        if parts.scheme != "s3" or not parts.netloc:
            raise ValueError(f"{STORAGE_SETTING}: not an S3 URL: {url!r} (use s3://bucket/prefix)")
        bucket = parts.netloc
        if not 3 <= len(bucket) <= 63:
            raise ValueError(f"{STORAGE_SETTING}: bucket names have 3 to 63 characters: {bucket!r}")
        return cls(bucket, parts.path.strip("/"))


def error_code(exc: botocore.exceptions.ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


def storage_error(action: str, exc: Exception) -> StorageError:
    if isinstance(exc, botocore.exceptions.ClientError):
        return StorageError(f"Object store refused to {action}: {error_code(exc)}")
    return StorageError(f"Object store unreachable while trying to {action}: {exc}")


def make_client(
    *,
    endpoint_url: str | None,
    region: str,
    access_key_id: str | None,
    secret_access_key: str | None,
    path_style: bool,
) -> S3Client:
    """A boto3 S3 client configured for S3-compatible servers (bounded retries and timeouts)."""
    config = botocore.config.Config(
        region_name=region,
        signature_version="s3v4",
        s3={"addressing_style": "path" if path_style else "auto"},
        retries={"max_attempts": 3, "mode": "standard"},
        connect_timeout=5,
        read_timeout=60,
        max_pool_connections=32,
        # Many S3-compatible servers reject the newer default CRC32 trailer checksums.
        request_checksum_calculation="when_required",
        response_checksum_validation="when_required",
    )
    session = boto3.session.Session()
    return session.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key_id,
        aws_secret_access_key=secret_access_key,
        config=config,
    )


def check_bucket(
    client: S3Client, *, bucket: str, url: str, endpoint_url: str | None, region: str
) -> None:
    """Raise a StorageError naming the setting to fix when the bucket cannot be used."""
    try:
        client.head_bucket(Bucket=bucket)
    except botocore.exceptions.ClientError as exc:
        code = error_code(exc)
        where = endpoint_url or f"AWS S3 ({region})"
        if code in MISSING:
            raise StorageError(
                f"{STORAGE_SETTING}: bucket {bucket!r} does not exist at {where}"
            ) from exc
        if code in {"403", "AccessDenied", "InvalidAccessKeyId", "SignatureDoesNotMatch"}:
            raise StorageError(
                f"{STORAGE_SETTING}: access to bucket {bucket!r} at {where} denied "
                f"({code}); check FILEDOCK_S3_ACCESS_KEY_ID and FILEDOCK_S3_SECRET_ACCESS_KEY"
            ) from exc
        raise StorageError(
            f"{STORAGE_SETTING}: bucket {bucket!r} at {where} is unusable ({code})"
        ) from exc
    except botocore.exceptions.BotoCoreError as exc:
        raise StorageError(
            f"FILEDOCK_S3_ENDPOINT_URL: cannot reach the object store at "
            f"{endpoint_url or 'AWS S3'} for {url}: {exc}"
        ) from exc
