"""Fine-tuning files: chat SFT, legacy prompt/completion, preference and reinforcement examples.

One format per file, decided once and held for every line. The first example whose shape
settles it decides: `prompt`/`completion` (prompt_completion), `input`/`preferred_output`
(preference), `messages` ending with a non-user message (chat), or `messages` ending with a
user message next to extra grader fields (reinforcement). A `messages` example ending with a
user message and nothing else could be either: such lines wait, and when the file turns out
to be chat those without an assistant message are errors. A file made only of them is
reinforcement. An example in another shape than the file's is `mixed_formats`; a messages
example in a chat or reinforcement file is held to that format's rules.

Token counts use o200k_base over the text of each example's messages plus OpenAI's per-message
framing (3 tokens per message, 3 to prime the reply), the counting OpenAI's cookbook
describes; an example above `context_tokens` is a warning (the model decides the real limit).
Fewer than `min_examples` examples is a warning: it is a rule of a fine-tuning job's training
file, and a small file is a legal validation file.
"""

from __future__ import annotations

from typing import Any

import msgspec

from filedock.validation import fine_tune_types as t
from filedock.validation.base import ValidationOptions
from filedock.validation.jsonl import JsonlValidator, json_type
from filedock.validation.messages import ExampleChecker
from filedock.validation.tokens import encoding

CHAT_KEYS = {"messages", "tools", "parallel_tool_calls", "functions"}
PREFERENCE_KEYS = {"input", "preferred_output", "non_preferred_output"}
PREFERENCE_INPUT_KEYS = {"messages", "tools", "parallel_tool_calls"}
LEGACY_KEYS = {"prompt", "completion"}
TOKENS_PER_MESSAGE = 3
TOKENS_PER_REPLY = 3

CHAT = "chat"
LEGACY = "prompt_completion"
PREFERENCE = "preference"
REINFORCEMENT = "reinforcement"
EITHER = "chat or reinforcement"  # a messages example that fits both


def example_kind(value: dict[str, Any]) -> str | None:
    """The format an example's shape points to (EITHER when it fits chat and reinforcement)."""
    if "messages" in value:
        messages = value["messages"]
        if not isinstance(messages, list) or not messages:
            return EITHER
        last = messages[-1]
        if not (isinstance(last, dict) and last.get("role") == "user"):
            return CHAT
        return REINFORCEMENT if value.keys() - CHAT_KEYS else EITHER
    if PREFERENCE_KEYS & value.keys():
        return PREFERENCE
    if LEGACY_KEYS & value.keys():
        return LEGACY
    return None


def _fast_trained(messages: Any) -> bool:
    """The fast path's check of decoded messages: every assistant message says something (text
    or a call) and at least one of them is trained (its weight is not 0)."""
    trained = False
    for m in messages:
        if m.__class__ is t.Assistant:
            if m.content is None and not m.tool_calls and not m.function_call:
                return False
            if m.weight:
                trained = True
    return trained


class FineTuneValidator(JsonlValidator):
    """Checks a `purpose=fine-tune` file (see docs/validation.md for every code)."""

    purpose = "fine-tune"

    def __init__(self, options: ValidationOptions | None = None) -> None:
        super().__init__(options)
        self._chat_decoder = msgspec.json.Decoder(t.Chat)
        self._legacy_decoder = msgspec.json.Decoder(t.Legacy)
        self._checker = ExampleChecker(self.report, self.options)
        self._queue: list[tuple[int, str, int]] = []  # (line, text, messages) awaiting tokens
        self._tokens_min: int | None = None
        self._tokens_max = 0
        self._tokens_total = 0
        self._counted = 0
        self._long = 0
        self._image_examples = 0
        # Messages examples met before the format was known (they fit chat and reinforcement):
        # (line, has an assistant message). Up to max_issues are kept; the counts are exact.
        self._waiting: list[tuple[int, bool]] = []
        self._waiting_count = [0, 0]  # [all, without an assistant message]
        self._waiting_clean = [0, 0]  # of those, lines that had no other error

    @property
    def format(self) -> str | None:
        return self.report.format

    def _wait(self, line: int, has_assistant: bool, clean: bool) -> None:
        for i in (0,) if has_assistant else (0, 1):
            self._waiting_count[i] += 1
            self._waiting_clean[i] += clean
        if len(self._waiting) < self.options.max_issues:
            self._waiting.append((line, has_assistant))

    def _decide(self, kind: str) -> None:
        """Settle the file's format; the waiting lines are judged by it."""
        self.report.format = kind
        if kind in (CHAT, LEGACY, PREFERENCE):
            which = 1 if kind == CHAT else 0
            shown = 0
            for line, has_assistant in self._waiting:
                if kind == CHAT and has_assistant:
                    continue
                shown += 1
                if kind == CHAT:
                    self.report.error(
                        "no_assistant_message", "example has no assistant message", line, "messages"
                    )
                else:
                    self.report.error(
                        "mixed_formats",
                        f"example is in chat or reinforcement format but the file is in {kind} "
                        "format; use one format per file",
                        line,
                    )
            self.report.error_count += self._waiting_count[which] - shown
            self.invalid_records += self._waiting_clean[which]
        self._waiting, self._waiting_count, self._waiting_clean = [], [0, 0], [0, 0]

    # fast path -----------------------------------------------------------------------------
    def fast_decoder(self) -> msgspec.json.Decoder[Any] | None:
        if self.format in (None, CHAT):
            return self._chat_decoder
        if self.format == LEGACY:
            return self._legacy_decoder
        return None

    def check_fast_many(self, records: list[Any], first_line: int) -> bool:
        # The common case, a chunk of valid chat examples of a chat file, in one tight loop.
        if self.format != CHAT or records[0].__class__ is not t.Chat:
            return False
        for r in records:
            if not _fast_trained(r.messages):
                return False
        if self.options.count_tokens:
            text = t.chat_text
            self._queue.extend(
                (first_line + i, text(r.messages), len(r.messages)) for i, r in enumerate(records)
            )
        return True

    def check_fast(self, record: Any, line: int) -> bool:
        if record.__class__ is t.Legacy:
            if self.format is None:
                self._decide(LEGACY)
            elif self.format != LEGACY:
                return False
            if self.options.count_tokens:
                self._queue.append((line, record.prompt + record.completion, 0))
            return True
        if self.format not in (None, CHAT):
            return False
        messages = record.messages
        if not _fast_trained(messages):
            return False
        if self.format is None:
            if messages[-1].__class__ is t.User:
                self._wait(line, True, True)  # fits chat and reinforcement: decides nothing
            else:
                self._decide(CHAT)
        if self.options.count_tokens:
            self._queue.append((line, t.chat_text(messages), len(messages)))
        return True

    # slow path (authoritative) -------------------------------------------------------------
    def check_record(self, value: Any, line: int) -> None:
        kind = example_kind(value)
        if kind is None:
            self.report.error(
                "missing_messages",
                "example has no 'messages' (nor 'prompt'/'completion' or 'input'/"
                "'preferred_output')",
                line,
                "messages",
            )
            return
        fmt = self.format
        if fmt is None and kind != EITHER:
            self._decide(kind)
            fmt = kind
        elif (
            fmt is not None
            and kind != fmt
            and not (fmt in (CHAT, REINFORCEMENT) and kind in (CHAT, REINFORCEMENT, EITHER))
        ):
            self.report.error(
                "mixed_formats",
                f"example is in {kind} format but the file is in {fmt} format; "
                "use one format per file",
                line,
            )
            return
        report = self.report
        checker = self._checker
        checker.start()
        before = report.error_count
        texts: list[str] = []
        count = 0
        if fmt is None:  # EITHER, format not known yet
            count, has_assistant = checker.messages(value, line, texts, need_assistant=False)
            checker.tools(value, line)
            self._wait(line, has_assistant, report.error_count == before)
        elif fmt == CHAT:
            checker.keys(value, CHAT_KEYS, line)
            count, has_assistant = checker.messages(value, line, texts, need_assistant=True)
            checker.tools(value, line)
            if has_assistant and not checker.trained and report.error_count == before:
                report.warning(
                    "no_trained_message",
                    "every assistant message has weight 0: the example teaches nothing",
                    line,
                )
        elif fmt == REINFORCEMENT:
            count, _ = checker.messages(value, line, texts, need_assistant=False, last_user=True)
            checker.tools(value, line)
        elif fmt == PREFERENCE:
            count = self._preference(value, line, texts)
        else:
            self._legacy(value, line, texts)
        if checker.images:
            self._image_examples += 1
            limit = self.options.image_examples
            if self._image_examples == limit + 1:
                report.too_many("too_many_image_examples", "examples with images", limit, line)
        if report.error_count == before and self.options.count_tokens:
            self._queue.append((line, "\n".join(texts), count))

    def _preference(self, value: dict[str, Any], line: int, texts: list[str]) -> int:
        report = self.report
        checker = self._checker
        checker.keys(value, PREFERENCE_KEYS, line)
        count = 0
        inp = value.get("input")
        if not isinstance(inp, dict):
            report.error(
                "invalid_input", "'input' must be an object with 'messages'", line, "input"
            )
        else:
            checker.keys(inp, PREFERENCE_INPUT_KEYS, line, "input.")
            count, _ = checker.messages(inp, line, texts, need_assistant=False, prefix="input.")
            checker.tools(inp, line, "input.")
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
            checker.message(out[0], f"{key}[0]", line, texts)
            count += 1
        return count

    def _legacy(self, value: dict[str, Any], line: int, texts: list[str]) -> None:
        self._checker.keys(value, LEGACY_KEYS, line)
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
        if self.format is None and self._waiting_count[0]:
            # Every example fits reinforcement; those without an assistant fit nothing else.
            self._decide(REINFORCEMENT if self._waiting_count[1] else CHAT)
        report = self.report
        stats = report.stats
        examples = self.records - self.invalid_records
        stats["examples"] = examples
        stats["invalid_examples"] = self.invalid_records
        if self._image_examples:
            stats["examples_with_images"] = self._image_examples
        if self.options.count_tokens:
            stats["tokens_per_example"] = {
                "min": self._tokens_min,
                "mean": round(self._tokens_total / self._counted, 1) if self._counted else None,
                "max": self._tokens_max if self._counted else None,
            }
            stats["total_tokens"] = self._tokens_total
            stats["examples_over_context"] = self._long
        if self.records == 0:
            report.error("empty_file", "the file has no examples")
        elif self.records < self.options.min_examples:
            report.warning(
                "too_few_examples",
                f"the file has {self.records} example{'s' if self.records != 1 else ''}; "
                f"a fine-tuning job's training file needs at least {self.options.min_examples} "
                "(a validation file may have fewer)",
            )
