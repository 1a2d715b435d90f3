"""Backend selection by URL, setting names in errors, secret masking and the CI-fails policy."""

from __future__ import annotations

from pathlib import Path

import pytest

from filedock.blobs.factory import blob_store_for_settings
from filedock.blobs.local import LocalBlobStore
from filedock.blobs.s3 import S3BlobStore
from filedock.metadata.db_postgres import PostgresDatabase
from filedock.metadata.db_sqlite import SqliteDatabase
from filedock.metadata.factory import metadata_store_for_url, redact_url
from filedock.settings import Settings, SettingsError
from tests import services


def test_database_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(metadata_store_for_url(f"sqlite:///{tmp_path}/x.db").db, SqliteDatabase)
    postgres = metadata_store_for_url("postgresql://u:p@h:5432/d", pool_size=3).db
    assert isinstance(postgres, PostgresDatabase) and postgres.pool_size == 3
    assert isinstance(metadata_store_for_url("postgres://u@h/d").db, PostgresDatabase)


@pytest.mark.parametrize("url", ["mysql://h/d", "sqlite:relative.db", "/var/lib/x.db", ""])
def test_bad_database_url_names_the_setting(url: str) -> None:
    with pytest.raises(SettingsError, match="FILEDOCK_DATABASE_URL"):
        metadata_store_for_url(url)


def test_storage_url_picks_the_backend(tmp_path: Path) -> None:
    assert isinstance(blob_store_for_settings(Settings(data_dir=tmp_path)), LocalBlobStore)
    s3 = blob_store_for_settings(
        Settings(data_dir=tmp_path, storage_url="s3://bucket/some/prefix/", s3_path_style=True)
    )
    assert isinstance(s3, S3BlobStore)
    assert (s3.bucket, s3.prefix, s3.path_style) == ("bucket", "some/prefix", True)
    assert s3.object_key("abc") == "some/prefix/abc"


@pytest.mark.parametrize("url", ["ftp://h/p", "s3://", "s3://ab/p", "bucket/prefix"])
def test_bad_storage_url_names_the_setting(tmp_path: Path, url: str) -> None:
    with pytest.raises(SettingsError, match="FILEDOCK_STORAGE_URL"):
        blob_store_for_settings(Settings(data_dir=tmp_path, storage_url=url))


def test_secrets_are_masked() -> None:
    settings = Settings.from_env(
        {"FILEDOCK_S3_SECRET_ACCESS_KEY": "hunter2", "FILEDOCK_S3_PATH_STYLE": "true"}
    )
    assert settings.s3_secret_access_key == "hunter2" and settings.s3_path_style is True
    assert "hunter2" not in repr(settings)
    assert redact_url("postgresql://app:hunter2@db:5432/x") == "postgresql://app:***@db:5432/x"
    assert redact_url("postgresql://app@db/x") == "postgresql://app@db/x"


def test_missing_server_fails_under_ci_and_skips_elsewhere(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CI", "1")
    with pytest.raises(pytest.fail.Exception, match="CI is set"):
        services.unavailable("no server")
    monkeypatch.delenv("CI")
    with pytest.raises(pytest.skip.Exception, match="no server"):
        services.unavailable("no server")
