"""Picks the blob store for the storage settings by the URL's scheme."""

from __future__ import annotations

from filedock.blobs.base import BlobStore
from filedock.blobs.local import LocalBlobStore
from filedock.settings import Settings, SettingsError

SETTING = "FILEDOCK_STORAGE_URL"


def blob_store_for_settings(settings: Settings) -> BlobStore:
    """Local disk under the data folder (empty URL), or `s3://bucket/prefix` (SettingsError if bad).

    The S3 backend is imported lazily so the embedded default never loads boto3.
    """
    url = settings.storage_url.strip()
    if not url:
        return LocalBlobStore(settings.data_dir)
    if url.startswith("s3://"):
        from filedock.blobs.s3 import S3BlobStore

        try:
            return S3BlobStore(
                url,
                endpoint_url=settings.s3_endpoint_url,
                region=settings.s3_region,
                access_key_id=settings.s3_access_key_id,
                secret_access_key=settings.s3_secret_access_key,
                path_style=settings.s3_path_style,
            )
        except ValueError as exc:
            raise SettingsError(str(exc)) from exc
    scheme = url.split("://", 1)[0] if "://" in url else url
    raise SettingsError(
        f"{SETTING}: unsupported storage URL scheme {scheme!r} "
        "(leave it empty for local disk under FILEDOCK_DATA_DIR, or use s3://bucket/prefix)"
    )
