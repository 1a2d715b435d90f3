"""Batch input files: one request per line, one url and one model for the whole file."""

from __future__ import annotations

import json
from typing import Any

import msgspec

from filedock.validation.base import ValidationOptions
from filedock.validation.jsonl import JsonlValidator, json_type

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


class _Body(msgspec.Struct):
    # Only the model is read; the rest of the body is checked to be JSON but not materialised.
    model: Any = None


class _Line(msgspec.Struct, forbid_unknown_fields=True):
    custom_id: str
    method: str
    url: str
    body: _Body


class BatchValidator(JsonlValidator):
    """Checks a `purpose=batch` file. Codes: invalid_json_line, invalid_encoding, blank_line
    (warning), missing_field, invalid_custom_id, duplicate_custom_id, invalid_method, invalid_url,
    url_mismatch, invalid_body, model_mismatch, unrecognized_key, empty_file, too_many_tasks."""

    purpose = "batch"

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._decoder = msgspec.json.Decoder(_Line)
        self._ids: set[str] = set()
        self._url: str | None = None
        self._url_line = 0
        self._model: Any = None
        self._model_line = 0
        self._tasks = 0

    def fast_decoder(self) -> msgspec.json.Decoder[Any]:
        return self._decoder

    def _count_task(self, line: int) -> bool:
        """Count one request; False once past the limit (ids are then no longer tracked)."""
        self._tasks += 1
        if self._tasks == self.options.batch_max_tasks + 1:
            self.report.error(
                "too_many_tasks",
                f"the file has more than {self.options.batch_max_tasks} requests",
                line,
            )
            self._ids.clear()  # the file is invalid anyway; keep memory bounded
        return self._tasks <= self.options.batch_max_tasks

    def check_fast_many(self, records: list[Any], first_line: int) -> bool:
        # Set operations over a whole chunk of lines instead of Python code per line.
        n = len(records)
        if self._tasks + n > self.options.batch_max_tasks:
            return False
        ids = [r.custom_id for r in records]
        urls = {r.url for r in records}
        models = {r.body.model for r in records}
        if len(urls) != 1 or len(models) != 1 or {r.method for r in records} != {"POST"}:
            return False
        url, model = urls.pop(), models.pop()
        if self._url is None and url not in ALLOWED_URLS:
            return False
        if (self._url is not None and url != self._url) or not isinstance(model, str | None):
            return False
        if (self._model_line and model != self._model) or not self._ids.isdisjoint(ids):
            return False
        unique = set(ids)
        if len(unique) != n:
            return False
        self._ids |= unique
        self._tasks += n
        if self._url is None:
            self._url, self._url_line = url, first_line
        if not self._model_line:
            self._model, self._model_line = model, first_line
        return True

    def check_fast(self, record: Any, line: int) -> bool:
        r: _Line = record
        if (
            r.method != "POST"
            or r.custom_id in self._ids
            or (self._url is not None and r.url != self._url)
            or (self._url is None and r.url not in ALLOWED_URLS)
            or (self._model_line and r.body.model != self._model)
            or not isinstance(r.body.model, str | None)
        ):
            return False
        if self._count_task(line):
            self._ids.add(r.custom_id)
        if self._url is None:
            self._url, self._url_line = r.url, line
        if not self._model_line:
            self._model, self._model_line = r.body.model, line
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
                model = body.get("model")
                if model is not None and not isinstance(model, str):
                    report.error(
                        "invalid_body",
                        f"body.model must be a string, not {json_type(model)}",
                        line,
                        "body.model",
                    )
                elif not self._model_line:
                    self._model, self._model_line = model, line
                elif model != self._model:
                    report.error(
                        "model_mismatch",
                        f"body.model {json.dumps(model)} differs from {json.dumps(self._model)} "
                        f"(line {self._model_line}); a batch file must use one model",
                        line,
                        "body.model",
                    )

    def bad_line(self, line: int) -> None:
        self._count_task(line)

    def finish_checks(self) -> None:
        self.report.stats["requests"] = self._tasks
        self.report.stats["url"] = self._url
        self.report.stats["model"] = self._model
        if self.records == 0:
            self.report.error("empty_file", "the file has no requests")
