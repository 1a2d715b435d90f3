"""The settings registry: FILEDOCK_* variables, flags over variables, sizes and booleans, errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from filedock.cli import main
from filedock.settings import Settings, SettingsError, parse_size


def test_environment_and_overrides() -> None:
    env = {
        "FILEDOCK_PORT": "9001",
        "FILEDOCK_DATA_DIR": "/srv/fd",
        "FILEDOCK_MAX_FILE_BYTES": "1GiB",
        "FILEDOCK_RESTRICT_DOWNLOADS": "yes",
        "FILEDOCK_SWEEP_INTERVAL_SECONDS": "2.5",
        "UNRELATED": "x",
    }
    settings = Settings.from_env(env, port="9002", batch_max_bytes="10MB")
    assert settings.port == 9002  # the flag wins
    assert settings.data_dir == Path("/srv/fd")
    assert settings.max_file_bytes == 1024**3
    assert settings.batch_max_bytes == 10_000_000
    assert settings.restrict_downloads is True
    assert settings.sweep_interval_seconds == 2.5


def test_defaults_are_openai_values() -> None:
    settings = Settings.from_env({})
    assert (settings.host, settings.port) == ("127.0.0.1", 8000)
    assert settings.data_dir == Path("filedock-data")
    assert settings.max_file_bytes == 512 * 1024**2
    assert settings.batch_max_bytes == 200 * 1024**2
    assert settings.batch_default_expiry_seconds == 30 * 24 * 3600
    assert settings.restrict_downloads is False


@pytest.mark.parametrize(
    ("text", "value"),
    [("0", 0), ("512MiB", 512 * 1024**2), ("200 MB", 200_000_000), ("1kib", 1024)],
)
def test_parse_size(text: str, value: int) -> None:
    assert parse_size(text) == value


@pytest.mark.parametrize(
    ("name", "raw"),
    [
        ("FILEDOCK_PORT", "eighty"),
        ("FILEDOCK_MAX_FILE_BYTES", "12 parsecs"),
        ("FILEDOCK_RESTRICT_DOWNLOADS", "maybe"),
    ],
)
def test_bad_values_name_the_setting(name: str, raw: str) -> None:
    with pytest.raises(SettingsError, match=name):
        Settings.from_env({name: raw})


def test_serve_rejects_a_bad_flag_value_without_starting() -> None:
    result = CliRunner().invoke(main, ["serve", "--port", "eighty"], env={"FILEDOCK_API_KEY": "x"})
    assert result.exit_code == 2
    assert "--port" in result.output


def test_secret_is_masked_in_repr() -> None:
    settings = Settings.from_env({"FILEDOCK_API_KEY": "sk-very-secret"})
    assert "sk-very-secret" not in repr(settings) and "api_key='***'" in repr(settings)
