"""Per-purpose content validation: pure validators fed byte chunks, returning a Report."""

from __future__ import annotations

from collections.abc import Callable, Iterable

from filedock.validation.assistants import AssistantsValidator
from filedock.validation.base import ValidationOptions, Validator
from filedock.validation.batch import BatchValidator, validate_batch
from filedock.validation.evals import EvalsValidator
from filedock.validation.fine_tune import FineTuneValidator
from filedock.validation.report import Issue, Report
from filedock.validation.vision import VisionValidator

# Purposes whose content is checked; every other purpose (user_data...) is processed at once.
CHECKED_PURPOSES = ("fine-tune", "batch", "evals", "vision", "assistants")

__all__ = [
    "CHECKED_PURPOSES",
    "BatchValidator",
    "Issue",
    "Report",
    "ValidationOptions",
    "Validator",
    "validate",
    "validate_batch",
    "validator_for",
]

# The validators that need only the options (assistants also reads the filename's extension).
_VALIDATORS: dict[str, Callable[[ValidationOptions | None], Validator]] = {
    "fine-tune": FineTuneValidator,
    "batch": BatchValidator,
    "evals": EvalsValidator,
    "vision": VisionValidator,
}


def validator_for(
    purpose: str, filename: str, options: ValidationOptions | None = None
) -> Validator:
    """A fresh validator for one file of `purpose`. Raises ValueError for unchecked purposes."""
    if purpose == "assistants":
        return AssistantsValidator(filename, options)
    try:
        validator = _VALIDATORS[purpose]
    except KeyError:
        raise ValueError(f"purpose {purpose!r} has no content validation") from None
    return validator(options)


def validate(
    purpose: str,
    filename: str,
    chunks: Iterable[bytes],
    options: ValidationOptions | None = None,
) -> Report:
    """Validate a whole stream of chunks (stops reading once the verdict is settled)."""
    validator = validator_for(purpose, filename, options)
    for chunk in chunks:
        validator.feed(chunk)
        if validator.done:
            break
    return validator.finish()
