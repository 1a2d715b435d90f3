"""Chat messages inside fine-tuning examples: the authoritative (slow-path) checks.

Shapes follow OpenAI's per-line schemas (FineTuneChatRequestInput, FineTunePreferenceRequestInput,
FineTuneReinforcementRequestInput) and the cookbook's format checker (missing_content for empty
content, unrecognized_role, ...). Images are checked one at a time as they are met.
"""

from __future__ import annotations

import json
from typing import Any

from filedock.validation.base import ValidationOptions
from filedock.validation.images import DETAILS, ImageProblem, check_image_url, mode_warning
from filedock.validation.jsonl import json_type
from filedock.validation.report import Report
from filedock.validation.tool_checks import (
    NAME_RULE,
    check_function_call,
    check_tool_calls,
    check_tools,
    valid_name,
)

ROLES = ("system", "developer", "user", "assistant", "tool", "function")
MESSAGE_KEYS = {
    "role",
    "content",
    "name",
    "weight",
    "tool_calls",
    "tool_call_id",
    "function_call",
    "refusal",
}
# Content part types each role may use (OpenAI's request schemas; no audio or files in
# fine-tuning).
PART_TYPES = {
    "system": ("text",),
    "developer": ("text",),
    "user": ("text", "image_url"),
    "assistant": ("text", "refusal"),
    "tool": ("text",),
}


class ExampleChecker:
    """Checks the chat parts of one example at a time, reporting into `report` at `line`."""

    def __init__(self, report: Report, options: ValidationOptions) -> None:
        self.report = report
        self.options = options
        self.images = 0  # images of the current example
        self.trained = False  # the current example has an assistant message with weight != 0

    def start(self) -> None:
        self.images = 0
        self.trained = False

    def keys(self, value: dict[str, Any], allowed: set[str], line: int, prefix: str = "") -> None:
        for key in value:
            if key not in allowed:
                self.report.error(
                    "unrecognized_key", f"unrecognized key '{prefix}{key}'", line, prefix + key
                )

    def messages(
        self,
        value: dict[str, Any],
        line: int,
        texts: list[str],
        *,
        need_assistant: bool,
        last_user: bool = False,
        prefix: str = "",
    ) -> tuple[int, bool]:
        """Check `value["messages"]`; returns (message count, has an assistant message)."""
        report = self.report
        path = prefix + "messages"
        if "messages" not in value:
            report.error("missing_messages", f"missing '{path}'", line, path)
            return 0, False
        messages = value["messages"]
        if not isinstance(messages, list):
            report.error(
                "invalid_messages",
                f"'{path}' must be an array, not {json_type(messages)}",
                line,
                path,
            )
            return 0, False
        if not messages:
            report.error("missing_messages", f"'{path}' is empty", line, path)
            return 0, False
        has_assistant = False
        for i, m in enumerate(messages):
            where = f"{path}[{i}]"
            if not isinstance(m, dict):
                report.error(
                    "invalid_message", f"{where} must be an object, not {json_type(m)}", line, where
                )
                continue
            has_assistant |= self.message(m, where, line, texts)
        if need_assistant and not has_assistant:
            report.error("no_assistant_message", "example has no assistant message", line, path)
        last = messages[-1]
        if last_user and not (isinstance(last, dict) and last.get("role") == "user"):
            report.error(
                "invalid_last_message",
                "a reinforcement example's messages must end with a user message",
                line,
                f"{path}[{len(messages) - 1}]",
            )
        return len(messages), has_assistant

    def message(self, m: dict[str, Any], where: str, line: int, texts: list[str]) -> bool:
        """Check one message; returns whether it is an assistant message."""
        report = self.report
        self.keys(m, MESSAGE_KEYS, line, where + ".")
        role = m.get("role")
        if "role" not in m:
            report.error("missing_role", f"{where} has no 'role'", line, where + ".role")
        elif role not in ROLES:
            report.error(
                "unrecognized_role",
                f"{where} has unrecognized role {json.dumps(role)}; expected one of "
                f"{', '.join(ROLES)}",
                line,
                where + ".role",
            )
        is_assistant = role == "assistant"
        if "name" in m and not valid_name(m["name"]):
            report.error(
                "invalid_name",
                f"{where}.name must be {NAME_RULE}, not {json.dumps(m['name'])[:80]}",
                line,
                where + ".name",
            )
        elif role == "function" and "name" not in m:
            report.error(
                "missing_name", f"{where}: a function message needs 'name'", line, where + ".name"
            )
        tool_calls = m.get("tool_calls")
        if "tool_calls" in m and not (is_assistant and tool_calls is None):
            if not is_assistant:
                report.error(
                    "invalid_tool_calls",
                    f"{where}: only assistant messages may have tool_calls",
                    line,
                    where + ".tool_calls",
                )
            else:
                check_tool_calls(report, tool_calls, where + ".tool_calls", line, texts)
        function_call = m.get("function_call")
        if function_call is not None:
            check_function_call(report, function_call, is_assistant, where, line, texts)
        if role == "tool":
            call_id = m.get("tool_call_id")
            if not isinstance(call_id, str):
                report.error(
                    "missing_tool_call_id",
                    f"{where}: a tool message needs 'tool_call_id' (a string)",
                    line,
                    where + ".tool_call_id",
                )
        elif "tool_call_id" in m:
            report.error(
                "unrecognized_key",
                f"{where}: only tool messages may have tool_call_id",
                line,
                where + ".tool_call_id",
            )
        self.content(m, role, where, line, texts, bool(tool_calls) or function_call is not None)
        if "weight" in m:
            weight = m["weight"]
            if not is_assistant:
                report.error(
                    "invalid_weight",
                    f"{where}: weight is only allowed on assistant messages",
                    line,
                    where + ".weight",
                )
            elif isinstance(weight, bool) or weight not in (0, 1):
                report.error(
                    "invalid_weight",
                    f"{where}.weight must be 0 or 1, not {json.dumps(weight)}",
                    line,
                    where + ".weight",
                )
            elif weight == 1:
                self.trained = True
        elif is_assistant:
            self.trained = True
        return is_assistant

    def content(
        self, m: dict[str, Any], role: Any, where: str, line: int, texts: list[str], calls: bool
    ) -> None:
        report = self.report
        path = where + ".content"
        content = m.get("content")
        empty = f"{where} has no content"
        if content is None:
            if not (role == "assistant" and calls) and role != "function":
                report.error("missing_content", empty, line, path)
            return
        if role == "function":
            if not isinstance(content, str):
                report.error("invalid_content", f"{path} must be a string or null", line, path)
            else:
                texts.append(content)
            return
        if isinstance(content, str):
            if not content and role in ("user", "assistant") and not calls:
                report.error("missing_content", empty + " (empty string)", line, path)
            texts.append(content)
            return
        if not isinstance(content, list):
            report.error(
                "invalid_content",
                f"{path} must be a string or an array of parts, not {json_type(content)}",
                line,
                path,
            )
            return
        if not content:
            report.error("missing_content", empty + " (empty array)", line, path)
            return
        allowed = PART_TYPES.get(role, ("text",)) if isinstance(role, str) else ("text",)
        filled = False
        for j, part in enumerate(content):
            filled |= self.part(part, role, allowed, f"{path}[{j}]", line, texts)
        if not filled and role in ("user", "assistant") and not calls:
            report.error("missing_content", empty + " (only empty text)", line, path)

    def part(
        self,
        part: Any,
        role: Any,
        allowed: tuple[str, ...],
        where: str,
        line: int,
        texts: list[str],
    ) -> bool:
        """Check one content part; returns whether it carries something (text or image)."""
        report = self.report
        kind = part.get("type") if isinstance(part, dict) else None
        if kind == "image_url" and role == "assistant":
            report.error(
                "image_in_assistant_message",
                f"{where}: images cannot be part of an assistant message (they are inputs only)",
                line,
                where,
            )
            return True
        if isinstance(kind, str) and kind not in allowed and kind in ("text", "image_url"):
            report.error(
                "invalid_content_part",
                f"{where}: a {role} message may only hold {' or '.join(allowed)} parts",
                line,
                where,
            )
            return True
        if kind == "text" and isinstance(part.get("text"), str) and part.keys() <= {"type", "text"}:
            texts.append(part["text"])
            return bool(part["text"])
        if (
            kind == "refusal"
            and "refusal" in allowed
            and isinstance(part.get("refusal"), str)
            and part.keys() <= {"type", "refusal"}
        ):
            texts.append(part["refusal"])
            return True
        if kind == "image_url" and "image_url" in allowed and part.keys() <= {"type", "image_url"}:
            image = part.get("image_url")
            if isinstance(image, dict) and isinstance(image.get("url"), str):
                self.image(image, where + ".image_url", line)
                return True
        shapes = " or ".join(
            {
                "text": '{"type": "text", "text": string}',
                "image_url": '{"type": "image_url", "image_url": {"url": string}}',
                "refusal": '{"type": "refusal", "refusal": string}',
            }[a]
            for a in allowed
        )
        report.error("invalid_content_part", f"{where} must be {shapes}", line, where)
        return True

    def image(self, image: dict[str, Any], where: str, line: int) -> None:
        report = self.report
        self.images += 1
        limit = self.options.images_per_example
        if self.images == limit + 1:
            report.too_many("too_many_images", "images", limit, line, where, holder="example")
        unknown = image.keys() - {"url", "detail"}
        if unknown:
            report.error(
                "unrecognized_key",
                f"unrecognized key '{sorted(unknown)[0]}' in {where}",
                line,
                where,
            )
        if "detail" in image and image["detail"] not in DETAILS:
            report.error(
                "invalid_image_detail",
                f"{where}.detail must be one of {', '.join(DETAILS)}, not "
                f"{json.dumps(image['detail'])[:40]}",
                line,
                where + ".detail",
            )
        try:
            facts = check_image_url(image["url"], max_bytes=self.options.image_max_bytes)
        except ImageProblem as problem:
            report.error(problem.code, f"{where}.url: {problem.message}", line, where + ".url")
            return
        if facts is not None and (warning := mode_warning(facts)):
            report.warning("image_mode", f"{where}.url: {warning}", line, where + ".url")

    def tools(self, value: dict[str, Any], line: int, prefix: str = "") -> None:
        check_tools(self.report, value, line, prefix)
