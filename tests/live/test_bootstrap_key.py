"""First start with no key anywhere: `filedock serve` creates one, prints it once, and it works."""

from __future__ import annotations

import re
from pathlib import Path

import openai
import pytest
from openai import OpenAI

from tests.helpers import make_server

pytestmark = pytest.mark.live

ANNOUNCEMENT = "Created the first API key"
KEY = re.compile(r"^\s+(sk-fd-\S+)$", re.MULTILINE)


def test_bootstrap_key_printed_once_and_usable(tmp_path: Path) -> None:
    server = make_server(tmp_path / "data", api_key="")
    try:
        server.start()
        log = server.log()
        assert log.count(ANNOUNCEMENT) == 1, log
        (secret,) = KEY.findall(log)
        with OpenAI(base_url=server.base_url, api_key=secret, max_retries=0) as client:
            created = client.files.create(file=("boot.txt", b"hello"), purpose="user_data")
            assert client.files.content(created.id).read() == b"hello"
        with (
            OpenAI(base_url=server.base_url, api_key="sk-fd-wrong", max_retries=0) as other,
            pytest.raises(openai.AuthenticationError),
        ):
            other.files.list()
        assert server.stop() == 0

        server.start()
        log = server.log()
        assert log.count(ANNOUNCEMENT) == 1, "a second start must not print a new key"
        assert log.count(secret) == 1
        with OpenAI(base_url=server.base_url, api_key=secret, max_retries=0) as client:
            assert [f.id for f in client.files.list()] == [created.id]
    finally:
        server.stop()
