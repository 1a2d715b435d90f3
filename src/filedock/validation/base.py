"""The validator interface and its options; every validator is fed byte chunks, then finished."""

from __future__ import annotations

import abc
from dataclasses import dataclass

from filedock.validation.report import Report


@dataclass(frozen=True)
class ValidationOptions:
    """Limits the validators apply; the service builds them from Settings."""

    max_issues: int = 100
    min_examples: int = 10
    context_tokens: int = 65536
    count_tokens: bool = True
    batch_max_tasks: int = 50000
    # /v1/embeddings batches: at most this many inputs across all requests of the file.
    batch_max_embedding_inputs: int = 50000
    # Images (vision uploads and images inside fine-tuning examples).
    image_max_bytes: int = 10 * 1024 * 1024
    images_per_example: int = 10
    image_examples: int = 50000
    assistants_max_tokens: int = 2_000_000
    # A single JSONL line longer than this is an error (keeps memory bounded on newline-less input).
    max_line_bytes: int = 64 * 1024 * 1024


class Validator(abc.ABC):
    """Checks one file's content. Pure: no I/O, no clock, no network.

    Call `feed` with consecutive chunks of the file (any sizes), then `finish` once. When `done`
    becomes true the verdict is settled (a limit was passed) and the caller may stop feeding.
    """

    purpose: str = ""

    def __init__(self, options: ValidationOptions | None = None) -> None:
        self.options = options or ValidationOptions()
        self.report = Report(self.purpose, max_issues=self.options.max_issues)
        self.done = False
        self.bytes_seen = 0

    @abc.abstractmethod
    def feed(self, chunk: bytes) -> None:
        """Consume the next chunk of the file."""

    @abc.abstractmethod
    def finish(self) -> Report:
        """End of file: run whole-file checks and return the report."""
