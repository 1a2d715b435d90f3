"""Tool and function definitions and calls inside chat messages (OpenAI's shapes and names)."""

from __future__ import annotations

import re
from typing import Any

from filedock.validation.report import Report

# OpenAI's pattern for participant, function and tool names.
NAME = re.compile(r"[a-zA-Z0-9_-]{1,64}")
NAME_RULE = "1 to 64 letters, digits, '_' or '-'"


def valid_name(value: Any) -> bool:
    return isinstance(value, str) and NAME.fullmatch(value) is not None


def check_tool_calls(report: Report, value: Any, where: str, line: int, texts: list[str]) -> None:
    if not isinstance(value, list):
        report.error("invalid_tool_calls", f"{where} must be an array", line, where)
        return
    for k, call in enumerate(value):
        fn = call.get("function") if isinstance(call, dict) else None
        if (
            isinstance(call, dict)
            and isinstance(call.get("id"), str)
            and call.get("type") == "function"
            and isinstance(fn, dict)
            and valid_name(fn.get("name"))
            and isinstance(fn.get("arguments"), str)
        ):
            texts.append(fn["name"])
            texts.append(fn["arguments"])
            continue
        report.error(
            "invalid_tool_calls",
            f'{where}[{k}] must be {{"id": string, "type": "function", '
            f'"function": {{"name": {NAME_RULE}, "arguments": string}}}}',
            line,
            f"{where}[{k}]",
        )


def check_function_call(
    report: Report, value: Any, is_assistant: bool, where: str, line: int, texts: list[str]
) -> None:
    path = where + ".function_call"
    if not is_assistant:
        report.error(
            "invalid_function_call",
            f"{where}: only assistant messages may have function_call",
            line,
            path,
        )
    elif (
        isinstance(value, dict)
        and valid_name(value.get("name"))
        and isinstance(value.get("arguments"), str)
    ):
        texts.append(value["name"])
        texts.append(value["arguments"])
    else:
        report.error(
            "invalid_function_call",
            f'{path} must be {{"name": {NAME_RULE}, "arguments": string}}',
            line,
            path,
        )


def check_tools(report: Report, value: dict[str, Any], line: int, prefix: str = "") -> None:
    if "tools" in value and value["tools"] is not None:
        tools = value["tools"]
        ok = isinstance(tools, list) and all(
            isinstance(t, dict)
            and t.get("type") == "function"
            and isinstance(t.get("function"), dict)
            and _function_definition(t["function"])
            for t in tools
        )
        if not ok:
            report.error(
                "invalid_tools",
                'tools must be an array of {"type": "function", "function": '
                f'{{"name": {NAME_RULE}, "parameters"?: object, ...}}}}',
                line,
                prefix + "tools",
            )
    if "functions" in value:
        functions = value["functions"]
        ok = (
            isinstance(functions, list)
            and 1 <= len(functions) <= 128
            and all(isinstance(f, dict) and _function_definition(f) for f in functions)
        )
        if not ok:
            report.error(
                "invalid_functions",
                f'functions must be an array of 1 to 128 {{"name": {NAME_RULE}, '
                '"parameters"?: object, ...}',
                line,
                prefix + "functions",
            )
    parallel = value.get("parallel_tool_calls")
    if parallel is not None and not isinstance(parallel, bool):
        report.error(
            "invalid_parallel_tool_calls",
            "parallel_tool_calls must be true or false",
            line,
            prefix + "parallel_tool_calls",
        )


def _function_definition(fn: dict[str, Any]) -> bool:
    return (
        valid_name(fn.get("name"))
        and isinstance(fn.get("parameters", {}), dict)
        and isinstance(fn.get("description", ""), str)
    )
