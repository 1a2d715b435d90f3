"""Concurrency for the sync client, on threads: the twin of client/_async/concurrency.py.

Written by hand (threads and anyio differ too much to generate); the client itself is generated.
"""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Callable
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from filedock.client.errors import UploadCancelled

T = TypeVar("T")


def to_thread(fn: Callable[..., T], *args: Any) -> T:
    """Blocking file I/O runs in the caller's thread."""
    return fn(*args)


def sleep(seconds: float) -> None:
    time.sleep(seconds)


def shielded() -> contextlib.nullcontext[None]:
    """Threads are not cancelled: clean-up always runs to its end."""
    return contextlib.nullcontext()


class SyncTaskGroup:
    """Runs tasks in `limit` threads; the first failure (or Ctrl-C) stops the rest and is raised.

    Tasks stop cooperatively: they check `stopped` between blocks.
    """

    def __init__(self, limit: int) -> None:
        self._pool = ThreadPoolExecutor(max_workers=limit)
        self._futures: list[Future[Any]] = []
        self._stop = threading.Event()

    def __enter__(self) -> SyncTaskGroup:
        return self

    def __exit__(self, exc_type: type[BaseException] | None, *exc_details: object) -> None:
        try:
            if exc_type is None:
                done, _ = wait(self._futures, return_when=FIRST_EXCEPTION)
                failures = [e for f in done if (e := f.exception()) is not None]
                if failures:
                    real = [e for e in failures if not isinstance(e, UploadCancelled)]
                    raise (real or failures)[0]
        except BaseException:
            self._stop.set()
            raise
        finally:
            if exc_type is not None:
                self._stop.set()
            self._pool.shutdown(wait=True, cancel_futures=self._stop.is_set())

    @property
    def stopped(self) -> bool:
        """True once a task failed or the caller was interrupted."""
        return self._stop.is_set()

    def start_soon(self, fn: Callable[..., Any], *args: Any) -> None:
        self._futures.append(self._pool.submit(fn, *args))
