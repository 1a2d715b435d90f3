"""Fine-tuning files: chat SFT, legacy prompt/completion, preference and reinforcement examples.

One format per file (the first recognisable example sets it). Token counts use o200k_base over
the text of each example's messages plus OpenAI's per-message framing (3 tokens per message, 3
to prime the reply), the counting OpenAI's cookbook describes; an example above
`context_tokens` is a warning (the model decides the real limit).
"""

from __future__ import annotations

import json
from typing import Any, Literal

import msgspec

from filedock.validation.base import ValidationOptions
from filedock.validation.jsonl import JsonlValidator, json_type
from filedock.validation.tokens import encoding

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
CHAT_KEYS = {"messages", "tools", "parallel_tool_calls"}
PREFERENCE_KEYS = {"input", "preferred_output", "non_preferred_output"}
LEGACY_KEYS = {"prompt", "completion"}
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3

CHAT = "chat"
LEGACY = "prompt_completion"
PREFERENCE = "preference"
REINFORCEMENT = "reinforcement"


# Fast-path types: what a common valid example looks like. Anything else takes the slow path.
class _TextPart(msgspec.Struct, tag_field="type", tag="text", forbid_unknown_fields=True):
    text: str


class _ImageUrl(msgspec.Struct, forbid_unknown_fields=True):
    url: str
    detail: str | None = None


class _ImagePart(msgspec.Struct, tag_field="type", tag="image_url", forbid_unknown_fields=True):
    image_url: _ImageUrl


class _Function(msgspec.Struct, forbid_unknown_fields=True):
    name: str
    arguments: str


class _ToolCall(msgspec.Struct, forbid_unknown_fields=True):
    id: str
    type: Literal["function"]
    function: _Function


_Content = str | list[_TextPart | _ImagePart]


# One type per role (tagged by "role"): msgspec then enforces per-role rules itself (content
# required except for assistants, weight only on assistants, weight 0 or 1).
class _System(msgspec.Struct, tag_field="role", tag="system", forbid_unknown_fields=True):
    content: _Content
    name: str | msgspec.UnsetType = msgspec.UNSET


class _Developer(msgspec.Struct, tag_field="role", tag="developer", forbid_unknown_fields=True):
    content: _Content
    name: str | msgspec.UnsetType = msgspec.UNSET


class _User(msgspec.Struct, tag_field="role", tag="user", forbid_unknown_fields=True):
    content: _Content
    name: str | msgspec.UnsetType = msgspec.UNSET


class _Assistant(msgspec.Struct, tag_field="role", tag="assistant", forbid_unknown_fields=True):
    content: _Content | None = None
    name: str | msgspec.UnsetType = msgspec.UNSET
    weight: Literal[0, 1] | msgspec.UnsetType = msgspec.UNSET
    tool_calls: list[_ToolCall] | msgspec.UnsetType = msgspec.UNSET
    function_call: _Function | msgspec.UnsetType = msgspec.UNSET
    refusal: str | msgspec.UnsetType | None = msgspec.UNSET


class _ToolMessage(msgspec.Struct, tag_field="role", tag="tool", forbid_unknown_fields=True):
    content: _Content
    tool_call_id: str | msgspec.UnsetType = msgspec.UNSET


class _FunctionMessage(
    msgspec.Struct, tag_field="role", tag="function", forbid_unknown_fields=True
):
    content: _Content
    name: str | msgspec.UnsetType = msgspec.UNSET


_Message = _System | _Developer | _User | _Assistant | _ToolMessage | _FunctionMessage


class _ToolFunction(msgspec.Struct):
    name: str


class _Tool(msgspec.Struct):
    type: Literal["function"]
    function: _ToolFunction


class _Chat(msgspec.Struct, forbid_unknown_fields=True):
    messages: list[_Message]
    tools: list[_Tool] | None = None
    parallel_tool_calls: bool | None = None


class _Legacy(msgspec.Struct, forbid_unknown_fields=True):
    prompt: str
    completion: str


def _chat_text(messages: list[Any]) -> str:
    """The text of a fast-path example's messages, for token counting."""
    texts: list[str] = []
    for m in messages:
        c = m.content
        if c.__class__ is str:
            texts.append(c)
        elif c:
            texts.extend(p.text for p in c if p.__class__ is _TextPart)
        if m.__class__ is _Assistant and m.tool_calls:
            for call in m.tool_calls:
                texts.append(call.function.name)
                texts.append(call.function.arguments)
    return "\n".join(texts)


def _is_role(m: Any, role: str) -> bool:
    return isinstance(m, dict) and m.get("role") == role


def classify(value: dict[str, Any]) -> str | None:
    """The format an example is written in, or None when it has none of the known fields."""
    if "messages" in value:
        messages = value["messages"]
        if isinstance(messages, list) and messages:
            if any(_is_role(m, "assistant") for m in messages):
                return CHAT
            if _is_role(messages[-1], "user"):
                return REINFORCEMENT
        return CHAT
    if PREFERENCE_KEYS & value.keys():
        return PREFERENCE
    if LEGACY_KEYS & value.keys():
        return LEGACY
    return None


class FineTuneValidator(JsonlValidator):
    """Checks a `purpose=fine-tune` file (see docs/validation.md for every code)."""

    purpose = "fine-tune"

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._chat_decoder = msgspec.json.Decoder(_Chat)
        self._legacy_decoder = msgspec.json.Decoder(_Legacy)
        self._queue: list[tuple[int, str, int]] = []  # (line, text, messages) awaiting tokens
        self._tokens_min: int | None = None
        self._tokens_max = 0
        self._tokens_total = 0
        self._counted = 0
        self._long = 0

    @property
    def format(self) -> str | None:
        return self.report.format

    # fast path -----------------------------------------------------------------------------
    def fast_decoder(self) -> msgspec.json.Decoder[Any] | None:
        if self.format in (None, CHAT):
            return self._chat_decoder
        if self.format == LEGACY:
            return self._legacy_decoder
        return None

    def check_fast_many(self, records: list[Any], first_line: int) -> bool:
        # The common case, a chunk of valid chat examples, in one tight loop.
        if self.format not in (None, CHAT) or records[0].__class__ is not _Chat:
            return False
        assistant = _Assistant
        for r in records:
            has_assistant = False
            for m in r.messages:
                if m.__class__ is assistant:
                    if m.content is None and not m.tool_calls and not m.function_call:
                        return False
                    has_assistant = True
            if not has_assistant:
                return False
        self.report.format = CHAT
        if self.options.count_tokens:
            self._queue.extend(
                (first_line + i, _chat_text(r.messages), len(r.messages))
                for i, r in enumerate(records)
            )
        return True

    def check_fast(self, record: Any, line: int) -> bool:
        if isinstance(record, _Legacy):
            if self.options.count_tokens:
                self._queue.append((line, record.prompt + record.completion, 0))
            return True
        messages = record.messages
        has_assistant = False
        for m in messages:
            if m.__class__ is _Assistant:
                has_assistant = True
                if m.content is None and not m.tool_calls and not m.function_call:
                    return False
        if not has_assistant:
            return False
        if self.format is None:
            self.report.format = CHAT
        if self.options.count_tokens:
            self._queue.append((line, _chat_text(messages), len(messages)))
        return True

    # slow path (authoritative) -------------------------------------------------------------
    def check_record(self, value: Any, line: int) -> None:
        kind = classify(value)
        if kind is None:
            self.report.error(
                "missing_messages",
                "example has no 'messages' (nor 'prompt'/'completion' or 'input'/"
                "'preferred_output')",
                line,
                "messages",
            )
            return
        if self.format is None:
            self.report.format = kind
        elif kind != self.format and not (self.format == CHAT and kind == REINFORCEMENT):
            self.report.error(
                "mixed_formats",
                f"example is in {kind} format but the file is in {self.format} format "
                f"(first example); use one format per file",
                line,
            )
            return
        before = self.report.error_count
        texts: list[str] = []
        count = 0
        if self.format == CHAT:
            self._keys(value, CHAT_KEYS, line)
            count = self._messages(value, "messages", line, texts, need_assistant=True)
            self._tools(value, line)
        elif self.format == REINFORCEMENT:
            count = self._messages(value, "messages", line, texts, need_assistant=False)
            self._tools(value, line)
        elif self.format == PREFERENCE:
            count = self._preference(value, line, texts)
        else:
            self._legacy(value, line, texts)
        if self.report.error_count == before and self.options.count_tokens:
            self._queue.append((line, "\n".join(texts), count))

    def _keys(self, value: dict[str, Any], allowed: set[str], line: int, prefix: str = "") -> None:
        for key in value:
            if key not in allowed:
                self.report.error(
                    "unrecognized_key", f"unrecognized key '{prefix}{key}'", line, prefix + key
                )

    def _messages(
        self,
        value: dict[str, Any],
        key: str,
        line: int,
        texts: list[str],
        *,
        need_assistant: bool,
        prefix: str = "",
    ) -> int:
        report = self.report
        path = prefix + key
        if key not in value:
            report.error("missing_messages", f"missing '{path}'", line, path)
            return 0
        messages = value[key]
        if not isinstance(messages, list):
            report.error(
                "invalid_messages",
                f"'{path}' must be an array, not {json_type(messages)}",
                line,
                path,
            )
            return 0
        if not messages:
            report.error("missing_messages", f"'{path}' is empty", line, path)
            return 0
        has_assistant = False
        for i, m in enumerate(messages):
            where = f"{path}[{i}]"
            if not isinstance(m, dict):
                report.error(
                    "invalid_message", f"{where} must be an object, not {json_type(m)}", line, where
                )
                continue
            has_assistant |= self._message(m, where, line, texts)
        if need_assistant and not has_assistant:
            report.error("no_assistant_message", "example has no assistant message", line, path)
        if self.format == REINFORCEMENT and not _is_role(messages[-1], "user"):
            report.error(
                "invalid_last_message",
                "a reinforcement example's messages must end with a user message",
                line,
                f"{path}[{len(messages) - 1}]",
            )
        return len(messages)

    def _message(self, m: dict[str, Any], where: str, line: int, texts: list[str]) -> bool:
        report = self.report
        self._keys(m, MESSAGE_KEYS, line, where + ".")
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
        calls = m.get("tool_calls")
        if "tool_calls" in m and not (is_assistant and calls is None):
            if not is_assistant:
                report.error(
                    "invalid_tool_calls",
                    f"{where}: only assistant messages may have tool_calls",
                    line,
                    where + ".tool_calls",
                )
            else:
                self._tool_calls(calls, where + ".tool_calls", line, texts)
        content = m.get("content")
        if content is None:
            if not (is_assistant and (calls or m.get("function_call"))):
                report.error("missing_content", f"{where} has no content", line, where + ".content")
        elif isinstance(content, str):
            texts.append(content)
        elif isinstance(content, list):
            for j, part in enumerate(content):
                self._part(part, f"{where}.content[{j}]", line, texts)
        else:
            report.error(
                "invalid_content",
                f"{where}.content must be a string or an array of parts, not {json_type(content)}",
                line,
                where + ".content",
            )
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
        return is_assistant

    def _part(self, part: Any, where: str, line: int, texts: list[str]) -> None:
        ok = False
        if isinstance(part, dict):
            kind = part.get("type")
            if kind == "text" and isinstance(part.get("text"), str):
                texts.append(part["text"])
                ok = part.keys() <= {"type", "text"}
            elif kind == "image_url":
                image = part.get("image_url")
                ok = isinstance(image, dict) and isinstance(image.get("url"), str)
                ok = ok and part.keys() <= {"type", "image_url"}
        if not ok:
            self.report.error(
                "invalid_content_part",
                f'{where} must be {{"type": "text", "text": string}} or '
                f'{{"type": "image_url", "image_url": {{"url": string}}}}',
                line,
                where,
            )

    def _tool_calls(self, calls: Any, where: str, line: int, texts: list[str]) -> None:
        if not isinstance(calls, list):
            self.report.error("invalid_tool_calls", f"{where} must be an array", line, where)
            return
        for k, call in enumerate(calls):
            fn = call.get("function") if isinstance(call, dict) else None
            if (
                isinstance(call, dict)
                and isinstance(call.get("id"), str)
                and call.get("type") == "function"
                and isinstance(fn, dict)
                and isinstance(fn.get("name"), str)
                and isinstance(fn.get("arguments"), str)
            ):
                texts.append(fn["name"])
                texts.append(fn["arguments"])
                continue
            self.report.error(
                "invalid_tool_calls",
                f'{where}[{k}] must be {{"id": string, "type": "function", '
                f'"function": {{"name": string, "arguments": string}}}}',
                line,
                f"{where}[{k}]",
            )

    def _tools(self, value: dict[str, Any], line: int) -> None:
        if "tools" in value:
            tools = value["tools"]
            ok = isinstance(tools, list) and all(
                isinstance(t, dict)
                and t.get("type") == "function"
                and isinstance(t.get("function"), dict)
                and isinstance(t["function"].get("name"), str)
                for t in tools
            )
            if not ok:
                self.report.error(
                    "invalid_tools",
                    'tools must be an array of {"type": "function", "function": '
                    '{"name": string, ...}}',
                    line,
                    "tools",
                )
        if "parallel_tool_calls" in value and not isinstance(value["parallel_tool_calls"], bool):
            self.report.error(
                "invalid_parallel_tool_calls",
                "parallel_tool_calls must be true or false",
                line,
                "parallel_tool_calls",
            )

    def _preference(self, value: dict[str, Any], line: int, texts: list[str]) -> int:
        report = self.report
        self._keys(value, PREFERENCE_KEYS, line)
        count = 0
        inp = value.get("input")
        if not isinstance(inp, dict):
            report.error(
                "invalid_input", "'input' must be an object with 'messages'", line, "input"
            )
        else:
            self._keys(inp, CHAT_KEYS, line, "input.")
            count = self._messages(
                inp, "messages", line, texts, need_assistant=False, prefix="input."
            )
        for key in ("preferred_output", "non_preferred_output"):
            out = value.get(key)
            if (
                not isinstance(out, list)
                or len(out) != 1
                or not isinstance(out[0], dict)
                or out[0].get("role") != "assistant"
            ):
                report.error(
                    "invalid_preference_output",
                    f"'{key}' must be an array holding exactly one assistant message",
                    line,
                    key,
                )
                continue
            self._message(out[0], f"{key}[0]", line, texts)
            count += 1
        return count

    def _legacy(self, value: dict[str, Any], line: int, texts: list[str]) -> None:
        self._keys(value, LEGACY_KEYS, line)
        for key in ("prompt", "completion"):
            text = value.get(key)
            if not isinstance(text, str):
                self.report.error(
                    "invalid_prompt_completion",
                    f"'{key}' must be a string"
                    + ("" if key not in value else f", not {json_type(text)}"),
                    line,
                    key,
                )
            else:
                texts.append(text)

    # tokens and whole-file rules -----------------------------------------------------------
    def after_region(self) -> None:
        if not self._queue:
            return
        queue, self._queue = self._queue, []
        # One call per example: tiktoken's batch API is slower here (thread pool overhead).
        encode = encoding("o200k_base").encode_ordinary
        for line, text, messages in queue:
            n = len(encode(text)) + (
                TOKENS_PER_MESSAGE * messages + TOKENS_PER_REPLY if messages else 0
            )
            self._counted += 1
            self._tokens_total += n
            self._tokens_max = max(self._tokens_max, n)
            self._tokens_min = n if self._tokens_min is None else min(self._tokens_min, n)
            if n > self.options.context_tokens:
                self._long += 1
                self.report.warning(
                    "example_too_long",
                    f"example has about {n} tokens, more than the {self.options.context_tokens}"
                    " token context; it may be truncated or rejected by the model",
                    line,
                )

    def finish_checks(self) -> None:
        stats = self.report.stats
        stats["examples"] = self.records
        if self.options.count_tokens:
            stats["tokens_per_example"] = {
                "min": self._tokens_min,
                "mean": round(self._tokens_total / self._counted, 1) if self._counted else None,
                "max": self._tokens_max if self._counted else None,
            }
            stats["total_tokens"] = self._tokens_total
            stats["examples_over_context"] = self._long
        if self.records < self.options.min_examples:
            self.report.error(
                "too_few_examples",
                f"the file has {self.records} example{'s' if self.records != 1 else ''}; "
                f"at least {self.options.min_examples} are required",
            )
