"""Batch input files: one request per line, one url and one model for the whole file.

Reusable by the Batch API: `BatchValidator(options)` is fed byte chunks of any size (or whole
lines ending in a newline) and `finish()` returns the Report, each problem with its line.
`validate_batch(chunks, options)` does both. After `finish()`, `report.stats` holds the file's
`url`, `model` and `requests` (valid lines).
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

import msgspec

from filedock.validation.base import ValidationOptions
from filedock.validation.jsonl import JsonlValidator, json_type
from filedock.validation.report import Report

ALLOWED_URLS = (
    "/v1/responses",
    "/v1/chat/completions",
    "/v1/embeddings",
    "/v1/completions",
    "/v1/moderations",
    "/v1/images/generations",
    "/v1/images/edits",
    "/v1/videos",
)
KEYS = {"custom_id", "method", "url", "body"}
# Body fields each endpoint cannot do without (a request lacking one fails).
REQUIRED = {
    "/v1/chat/completions": ("model", "messages"),
    "/v1/completions": ("model", "prompt"),
    "/v1/embeddings": ("model", "input"),
    "/v1/moderations": ("input",),
    "/v1/images/generations": ("prompt",),
    "/v1/images/edits": ("prompt", "image"),
    "/v1/videos": ("prompt",),
    "/v1/responses": (),
}
_UNSET = msgspec.UNSET
_Field = msgspec.Raw | msgspec.UnsetType


class _Body(msgspec.Struct, gc=False):
    # The model is read; the other fields are only seen to be present (Raw: not materialised).
    model: Any = _UNSET
    messages: _Field = _UNSET
    input: _Field = _UNSET
    prompt: _Field = _UNSET
    image: _Field = _UNSET


_inputs = msgspec.json.Decoder(list[msgspec.Raw] | str)


def embedding_inputs(raw: msgspec.Raw) -> int:
    """How many inputs an embeddings `input` holds (a list of token ids is one input)."""
    try:
        value = _inputs.decode(raw)
    except msgspec.ValidationError:
        return 1
    if isinstance(value, str) or not value:
        return 1
    first = bytes(value[0])[:1]
    return 1 if first in b"-0123456789" else len(value)


class _Line(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    custom_id: str
    method: str
    url: str
    body: _Body


def _line_type(url: str) -> type[msgspec.Struct]:
    """A line type for files of one url: msgspec itself then requires the endpoint's fields."""
    fields: list[tuple[str, Any] | tuple[str, Any, Any]] = [
        (f, str if f == "model" else msgspec.Raw) for f in REQUIRED[url]
    ]
    if "model" not in REQUIRED[url]:
        fields.append(("model", Any, _UNSET))
    body = msgspec.defstruct("_Body", fields, gc=False)
    return msgspec.defstruct(
        "_Line",
        [("custom_id", str), ("method", str), ("url", str), ("body", body)],
        gc=False,
        forbid_unknown_fields=True,
    )


class BatchValidator(JsonlValidator):
    """Checks a `purpose=batch` file (see docs/validation.md for every code)."""

    purpose = "batch"
    skips_values = True  # the body is not decoded

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._decoder = msgspec.json.Decoder(_Line)
        self._url_decoder: msgspec.json.Decoder[Any] | None = None
        self._ids: set[str] = set()
        self._url: str | None = None
        self._url_line = 0
        self._model: str | None = None
        self._model_line = 0
        self._tasks = 0
        self._inputs = 0  # embedding inputs so far

    def fast_decoder(self) -> msgspec.json.Decoder[Any]:
        if self._url_decoder is None and self._url is not None:
            self._url_decoder = msgspec.json.Decoder(_line_type(self._url))
        return self._url_decoder or self._decoder

    def _count_task(self, line: int) -> bool:
        """Count one request; False once past the limit (ids are then no longer tracked)."""
        self._tasks += 1
        if self._tasks == self.options.batch_max_tasks + 1:
            self.report.too_many("too_many_tasks", "requests", self.options.batch_max_tasks, line)
            self._ids.clear()  # the file is invalid anyway; keep memory bounded
        return self._tasks <= self.options.batch_max_tasks

    def _fits(self, url: str, model: Any) -> bool:
        """The url and model of a fast-path line agree with the file's (first line sets them)."""
        if url != self._url and (self._url is not None or url not in ALLOWED_URLS):
            return False
        return model.__class__ is str and (self._model is None or model == self._model)

    def _adopt(self, url: str, model: str, line: int) -> None:
        if self._url is None:
            self._url, self._url_line = url, line
        if self._model is None:
            self._model, self._model_line = model, line

    def check_fast_many(self, records: list[Any], first_line: int) -> bool:
        # Set operations over a whole chunk of lines instead of Python code per line.
        n = len(records)
        if self._tasks + n > self.options.batch_max_tasks:
            return False
        urls = {r.url for r in records}
        models = {r.body.model for r in records}
        if len(urls) != 1 or len(models) != 1 or {r.method for r in records} != {"POST"}:
            return False
        url, model = urls.pop(), models.pop()
        if not self._fits(url, model):
            return False
        if records[0].body.__class__ is _Body:  # not yet the url's own type: check by hand
            for field in REQUIRED[url]:
                if field != "model" and any(getattr(r.body, field) is _UNSET for r in records):
                    return False
        ids = [r.custom_id for r in records]
        unique = set(ids)
        if len(unique) != n or not self._ids.isdisjoint(unique):
            return False
        if url == "/v1/embeddings":
            inputs = sum(embedding_inputs(r.body.input) for r in records)
            if self._inputs + inputs > self.options.batch_max_embedding_inputs:
                return False
            self._inputs += inputs
        self._ids |= unique
        self._tasks += n
        self._adopt(url, model, first_line)
        return True

    def check_fast(self, record: Any, line: int) -> bool:
        r: _Line = record
        body = r.body
        if r.method != "POST" or r.custom_id in self._ids or not self._fits(r.url, body.model):
            return False
        if body.__class__ is _Body and any(
            getattr(body, f) is _UNSET for f in REQUIRED[r.url] if f != "model"
        ):
            return False
        if r.url == "/v1/embeddings":
            inputs = embedding_inputs(body.input)  # type: ignore[arg-type]
            if self._inputs + inputs > self.options.batch_max_embedding_inputs:
                return False
            self._inputs += inputs
        if self._count_task(line):
            self._ids.add(r.custom_id)
        self._adopt(r.url, body.model, line)
        return True

    def check_record(self, value: Any, line: int) -> None:
        report = self.report
        tracked = self._count_task(line)
        for key in value:
            if key not in KEYS:
                report.error("unrecognized_key", f"unrecognized key '{key}'", line, key)
        for key in ("custom_id", "method", "url", "body"):
            if key not in value:
                report.error("missing_field", f"missing required field '{key}'", line, key)
        custom_id = value.get("custom_id")
        if "custom_id" in value:
            if not isinstance(custom_id, str):
                report.error(
                    "invalid_custom_id",
                    f"custom_id must be a string, not {json_type(custom_id)}",
                    line,
                    "custom_id",
                )
            elif custom_id in self._ids:
                report.error(
                    "duplicate_custom_id",
                    f"custom_id '{custom_id}' is used more than once",
                    line,
                    "custom_id",
                )
            elif tracked:
                self._ids.add(custom_id)
        if "method" in value and value["method"] != "POST":
            report.error(
                "invalid_method",
                f"method must be 'POST', not {json.dumps(value['method'])}",
                line,
                "method",
            )
        url = value.get("url")
        if "url" in value:
            if not isinstance(url, str) or url not in ALLOWED_URLS:
                report.error(
                    "invalid_url",
                    f"url {json.dumps(url)} is not one of {', '.join(ALLOWED_URLS)}",
                    line,
                    "url",
                )
            elif self._url is None:
                self._url, self._url_line = url, line
            elif url != self._url:
                report.error(
                    "url_mismatch",
                    f"url '{url}' differs from '{self._url}' (line {self._url_line}); "
                    "a batch file must use one url",
                    line,
                    "url",
                )
        body = value.get("body")
        if "body" in value:
            if not isinstance(body, dict):
                report.error(
                    "invalid_body", f"body must be an object, not {json_type(body)}", line, "body"
                )
            else:
                # Judged against its own url, unless that one is already reported as wrong.
                own = isinstance(url, str) and url in REQUIRED
                endpoint = url if own and self._url in (None, url) else None
                if "url" not in value:
                    endpoint = self._url
                self._body(body, endpoint, line)

    def _body(self, body: dict[str, Any], endpoint: str | None, line: int) -> None:
        report = self.report
        required = REQUIRED.get(endpoint or "", ())
        model = body.get("model")
        if model is None:
            message = f"body.model is missing; {endpoint} requests name their model"
            if "model" in required:
                report.error("missing_model", message, line, "body.model")
            elif endpoint is not None:
                report.warning(
                    "missing_model",
                    f"body.model is missing; {endpoint} will use its default model",
                    line,
                    "body.model",
                )
        elif not isinstance(model, str):
            report.error(
                "invalid_body",
                f"body.model must be a string, not {json_type(model)}",
                line,
                "body.model",
            )
        elif self._model is None:
            self._model, self._model_line = model, line
        elif model != self._model:
            report.error(
                "model_mismatch",
                f"body.model {json.dumps(model)} differs from {json.dumps(self._model)} "
                f"(line {self._model_line}); a batch file must use one model",
                line,
                "body.model",
            )
        for field in required:
            if field != "model" and body.get(field) is None:
                report.error(
                    "missing_body_field",
                    f"body.{field} is missing; {endpoint} requests need it",
                    line,
                    f"body.{field}",
                )
        if endpoint == "/v1/embeddings" and body.get("input") is not None:
            before = self._inputs
            self._inputs += embedding_inputs(msgspec.Raw(msgspec.json.encode(body["input"])))
            limit = self.options.batch_max_embedding_inputs
            if before <= limit < self._inputs:
                report.too_many(
                    "too_many_embedding_inputs",
                    "embedding inputs across its requests",
                    limit,
                    line,
                    "body.input",
                )

    def bad_line(self, line: int) -> None:
        self._count_task(line)

    def finish_checks(self) -> None:
        self.report.stats["requests"] = self.records - self.invalid_records
        if self.invalid_records:
            self.report.stats["invalid_requests"] = self.invalid_records
        if self._inputs:
            self.report.stats["embedding_inputs"] = self._inputs
        self.report.stats["url"] = self._url
        self.report.stats["model"] = self._model
        if self.records == 0:
            self.report.error("empty_file", "the file has no requests")


def validate_batch(chunks: Iterable[bytes], options: ValidationOptions | None = None) -> Report:
    """Validate a whole batch input file given as byte chunks (or newline-ended lines)."""
    validator = BatchValidator(options)
    for chunk in chunks:
        validator.feed(chunk)
    return validator.finish()
