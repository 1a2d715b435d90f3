"""Evals data files: each line `{"item": {...}, "sample"?: {...}}`."""

from __future__ import annotations

from typing import Any

import msgspec

from filedock.validation.base import ValidationOptions
from filedock.validation.jsonl import JsonlValidator, json_type


class _Line(msgspec.Struct, gc=False, forbid_unknown_fields=True):
    item: dict[str, Any]
    # UNSET, not None: an explicit `"sample": null` must fail here and reach the slow path.
    sample: dict[str, Any] | msgspec.UnsetType = msgspec.UNSET


class EvalsValidator(JsonlValidator):
    """Codes: invalid_json_line, invalid_encoding, missing_item, invalid_item, invalid_sample,
    unrecognized_key, empty_file; warnings blank_line, utf8_bom."""

    purpose = "evals"

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._decoder = msgspec.json.Decoder(_Line)

    def fast_decoder(self) -> msgspec.json.Decoder[Any]:
        return self._decoder

    def check_fast(self, record: Any, line: int) -> bool:
        return True

    def check_record(self, value: Any, line: int) -> None:
        report = self.report
        for key in value:
            if key not in ("item", "sample"):
                report.error("unrecognized_key", f"unrecognized key '{key}'", line, key)
        if "item" not in value:
            report.error("missing_item", "missing required field 'item'", line, "item")
        elif not isinstance(value["item"], dict):
            report.error(
                "invalid_item",
                f"'item' must be an object, not {json_type(value['item'])}",
                line,
                "item",
            )
        if "sample" in value and not isinstance(value["sample"], dict):
            report.error(
                "invalid_sample",
                f"'sample' must be an object, not {json_type(value['sample'])}",
                line,
                "sample",
            )

    def finish_checks(self) -> None:
        self.report.stats["items"] = self.records - self.invalid_records
        if self.invalid_records:
            self.report.stats["invalid_items"] = self.invalid_records
        if self.records == 0:
            self.report.error("empty_file", "the file has no items")
