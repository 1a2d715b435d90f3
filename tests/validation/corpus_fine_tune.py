"""fine-tune samples: a valid file of every documented format, and every error class on its line."""

from __future__ import annotations

import json
from typing import Any

from tests.validation.corpus_kit import chat, data_url, image, image_part, jsonl, write

WEATHER_TOOL = {
    "type": "function",
    "function": {
        "name": "get_current_weather",
        "description": "Get the current weather",
        "parameters": {
            "type": "object",
            "properties": {
                "location": {"type": "string", "description": "City and country"},
                "format": {"type": "string", "enum": ["celsius", "fahrenheit"]},
            },
            "required": ["location", "format"],
        },
        "strict": True,
    },
}


def call(i: int, name: str = "get_current_weather") -> dict[str, Any]:
    return {
        "id": f"call_{i}",
        "type": "function",
        "function": {"name": name, "arguments": json.dumps({"location": f"City {i}"})},
    }


def tool_example(i: int) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "user", "content": f"What is the weather in City {i}?"},
            {"role": "assistant", "tool_calls": [call(i)]},
            {"role": "tool", "tool_call_id": f"call_{i}", "content": '{"temp": 18}'},
            {"role": "assistant", "content": "18 degrees.", "weight": 1},
        ],
        "tools": [WEATHER_TOOL],
        "parallel_tool_calls": False,
    }


def rft(i: int, *earlier: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "developer", "content": "Solve it."},
            *earlier,
            {"role": "user", "content": f"{i} * 3 = ?"},
        ],
        **extra,
    }


def with_image(i: int, *parts: dict[str, Any]) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You name colours."},
            {"role": "user", "content": [{"type": "text", "text": f"Colour {i}?"}, *parts]},
            {"role": "assistant", "content": "Red."},
        ]
    }


def valid_files() -> None:
    rich = [
        chat(0),
        {
            "messages": [
                {"role": "developer", "content": "Use tools when useful."},
                {"role": "user", "content": "Weather in Paris?"},
                {"role": "assistant", "content": None, "tool_calls": [call(1)]},
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
                {"role": "assistant", "content": "18C and sunny.", "weight": 1},
            ],
            "tools": [WEATHER_TOOL],
            "parallel_tool_calls": False,
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        image_part("https://example.com/a.png"),
                    ],
                },
                {"role": "assistant", "content": "A cat.", "weight": 0},
                {"role": "user", "content": "Sure?"},
                {"role": "assistant", "content": [{"type": "text", "text": "Yes, a cat."}]},
            ]
        },
        *[chat(i) for i in range(3, 10)],
    ]
    write(
        "fine-tune",
        "chat_valid.jsonl",
        jsonl(rich),
        {"verdict": "valid", "format": "chat", "stats": {"lines": 10, "examples": 10}},
    )
    turns = [
        {
            "messages": [
                {"role": "system", "content": "Marv is a sarcastic chatbot."},
                {"role": "user", "content": f"Question {i}?"},
                {"role": "assistant", "content": "A dull answer.", "weight": 0},
                {"role": "user", "content": "Be Marv."},
                {"role": "assistant", "content": "Oh, sure, anything for you.", "weight": 1},
                {"role": "user", "content": "Thanks."},
                {"role": "assistant", "content": "My pleasure, truly."},
            ]
        }
        for i in range(10)
    ]
    write(
        "fine-tune",
        "multi_turn_weights.jsonl",
        jsonl(turns),
        {"verdict": "valid", "format": "chat", "stats": {"examples": 10}},
    )
    tools = [tool_example(i) for i in range(10)]
    # The schema's own example: an assistant turn that only calls a tool ends the example.
    tools[3] = {
        "messages": [
            {"role": "user", "content": "What is the weather in San Francisco?"},
            {"role": "assistant", "tool_calls": [call(3)]},
        ],
        "parallel_tool_calls": False,
        "tools": [WEATHER_TOOL],
    }
    # Empty-string content next to tool_calls is what many SDKs write.
    tools[5]["messages"][1]["content"] = ""
    write("fine-tune", "tools_valid.jsonl", jsonl(tools), {"verdict": "valid", "format": "chat"})
    functions = [
        {
            "messages": [
                {"role": "user", "content": f"What is the weather in City {i}?"},
                {
                    "role": "assistant",
                    "function_call": {
                        "name": "get_current_weather",
                        "arguments": json.dumps({"location": f"City {i}"}),
                    },
                },
                {"role": "function", "name": "get_current_weather", "content": "18C"},
                {"role": "assistant", "content": "It is 18C."},
            ],
            "functions": [WEATHER_TOOL["function"]],
        }
        for i in range(10)
    ]
    write(
        "fine-tune",
        "functions_legacy_valid.jsonl",
        jsonl(functions),
        {"verdict": "valid", "format": "chat"},
    )
    named = [chat(i) for i in range(10)]
    named[1]["messages"][1]["name"] = "alice_1"
    named[2]["messages"][2] = {"role": "assistant", "name": "bot-2", "content": "4."}
    named[3]["messages"][2] = {
        "role": "assistant",
        "content": [{"type": "refusal", "refusal": "I cannot help with that."}],
    }
    named[4]["messages"][2] = {"role": "assistant", "content": "8.", "refusal": None}
    named[5]["messages"][0] = {"role": "developer", "content": [{"type": "text", "text": "Be"}]}
    write(
        "fine-tune",
        "names_refusals_valid.jsonl",
        jsonl(named),
        {"verdict": "valid", "format": "chat"},
    )
    prefs = [
        {
            "input": {
                "messages": [
                    {"role": "system", "content": "You are brief."},
                    {"role": "user", "content": f"Say hi {i}"},
                ],
                "tools": [],
                "parallel_tool_calls": True,
            },
            "preferred_output": [{"role": "assistant", "content": "Hi!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(10)
    ]
    write(
        "fine-tune",
        "preference_valid.jsonl",
        jsonl(prefs),
        {"verdict": "valid", "format": "preference"},
    )
    bad_pref = [dict(p) for p in prefs]
    bad_pref[3] = {**prefs[3], "preferred_output": [{"role": "user", "content": "x"}]}
    bad_pref[7] = {**prefs[7], "non_preferred_output": []}
    bad_pref[5] = {**prefs[5], "input": "Say hi"}
    write(
        "fine-tune",
        "preference_errors.jsonl",
        jsonl(bad_pref),
        {
            "verdict": "invalid",
            "format": "preference",
            "errors": [
                [4, "invalid_preference_output"],
                [6, "invalid_input"],
                [8, "invalid_preference_output"],
            ],
        },
    )
    write(
        "fine-tune",
        "reinforcement_valid.jsonl",
        jsonl([rft(i, reference_answer=str(3 * i)) for i in range(10)]),
        {"verdict": "valid", "format": "reinforcement"},
    )
    earlier = [
        {"role": "user", "content": "Warm up: 1 * 3?"},
        {"role": "assistant", "content": "3"},
    ]
    mixed_turns = [
        rft(i, *(earlier if i % 2 == 0 else ()), reference_answer=str(3 * i)) for i in range(10)
    ]
    write(
        "fine-tune",
        "reinforcement_with_assistant_turn.jsonl",
        jsonl(mixed_turns),
        {"verdict": "valid", "format": "reinforcement"},
    )
    # No grader fields at all: every line fits chat and reinforcement until the end; lines
    # without an assistant reply fit only reinforcement.
    write(
        "fine-tune",
        "reinforcement_without_extra_fields.jsonl",
        jsonl([rft(i, *(earlier if i % 3 == 0 else ())) for i in range(10)]),
        {"verdict": "valid", "format": "reinforcement"},
    )
    legacy = [{"prompt": f"Q{i}:", "completion": f" A{i}"} for i in range(10)]
    write(
        "fine-tune",
        "legacy_valid.jsonl",
        jsonl(legacy),
        {"verdict": "valid", "format": "prompt_completion"},
    )
    png, jpeg, webp = image("PNG"), image("JPEG"), image("WEBP")
    pictures = [with_image(i, image_part(data_url(png))) for i in range(10)]
    pictures[1] = with_image(1, image_part(data_url(jpeg, "image/jpeg"), detail="low"))
    pictures[2] = with_image(2, image_part(data_url(webp, "image/webp"), detail="high"))
    pictures[3] = with_image(3, image_part(data_url(png), detail="auto"), image_part(data_url(png)))
    pictures[4] = with_image(4, image_part("https://upload.wikimedia.org/x/Danbo_Cheese.jpg"))
    pictures[5] = {  # the guide's layout: the image in a user message of its own
        "messages": [
            {"role": "system", "content": "You identify cheeses."},
            {"role": "user", "content": "What is this cheese?"},
            {"role": "user", "content": [image_part(data_url(jpeg, "image/jpeg"))]},
            {"role": "assistant", "content": "Danbo"},
        ]
    }
    pictures[6] = with_image(6, image_part(data_url(image("PNG", "L"))))  # grey: a warning
    pictures[7] = with_image(7, image_part(data_url(image("PNG", "RGBA"))))
    write(
        "fine-tune",
        "vision_data_urls.jsonl",
        jsonl(pictures),
        {
            "verdict": "valid",
            "format": "chat",
            "warnings": [[7, "image_mode"]],
            "stats": {"examples": 10, "examples_with_images": 10},
        },
    )
    seed = (
        '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, '
        '{"role": "user", "content": "Hello!"}, {"role": "assistant", "content": "Hi there!"}]}\n'
        '{"messages": [{"role": "system", "content": "You are a helpful assistant."}, '
        '{"role": "user", "content": "How are you?"}, '
        '{"role": "assistant", "content": "I\'m doing well!"}]}\n'
    )
    write(
        "fine-tune",
        "seed_sample.jsonl",
        seed.encode(),
        {
            "verdict": "valid",
            "format": "chat",
            "warnings": [[None, "too_few_examples"]],
            "stats": {"examples": 2},
        },
    )
    zero = [chat(i) for i in range(10)]
    zero[3]["messages"][2]["weight"] = 0
    write(
        "fine-tune",
        "weights_all_zero.jsonl",
        jsonl(zero),
        {"verdict": "valid", "warnings": [[4, "no_trained_message"]]},
    )
    # UTF-8 BOM, CRLF endings, a blank line (line 4) and no final newline: valid, two warnings.
    lines = [json.dumps(chat(i)) for i in range(10)]
    lines.insert(3, "")
    write(
        "fine-tune",
        "bom_crlf_blank_no_final_newline.jsonl",
        b"\xef\xbb\xbf" + "\r\n".join(lines).encode(),
        {
            "verdict": "valid",
            "warnings": [[1, "utf8_bom"], [4, "blank_line"]],
            "stats": {"lines": 11, "examples": 10},
        },
    )
    write(
        "fine-tune",
        "too_few.jsonl",
        jsonl([chat(i) for i in range(3)]),
        {"verdict": "valid", "warnings": [[None, "too_few_examples"]]},
    )


def error_files() -> None:
    rows: list[Any] = [chat(i) for i in range(12)]
    rows[2] = '{"messages": [{"role": "user", "content": "hi"} {"role": "assistant"}]}'
    rows[4] = {
        "messages": [{"role": "robot", "content": "x"}, {"role": "assistant", "content": "y"}]
    }
    rows[5] = {"messages": [{"role": "user"}, {"role": "assistant", "content": "y"}]}
    rows[6] = {"messages": [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]}
    rows[7] = {
        "messages": [
            {"role": "user", "content": "u"},
            {"role": "assistant", "content": "a", "weight": 2},
        ]
    }
    rows[8] = {
        "messages": [
            {"role": "user", "content": "u", "weight": 1},
            {"role": "assistant", "content": "a"},
        ]
    }
    rows[9] = chat(9, foo=1)
    rows[10] = {"text": "no messages here"}
    write(
        "fine-tune",
        "chat_errors.jsonl",
        jsonl(rows),
        {
            "verdict": "invalid",
            "format": "chat",
            "errors": [
                [3, "invalid_json_line"],
                [5, "unrecognized_role"],
                [6, "missing_content"],
                [7, "no_assistant_message"],
                [8, "invalid_weight"],
                [9, "invalid_weight"],
                [10, "unrecognized_key"],
                [11, "missing_messages"],
            ],
            "stats": {"lines": 12, "examples": 4, "invalid_examples": 8},
        },
    )

    shapes: list[Any] = [chat(i) for i in range(10)]
    shapes[1] = {"messages": "hi"}
    shapes[2] = {"messages": [1, *chat(2)["messages"]]}
    shapes[3] = {"messages": [{"content": "x"}, chat(3)["messages"][2]]}
    shapes[4] = {"messages": [{"role": "user", "content": 42}, chat(4)["messages"][2]]}
    write(
        "fine-tune",
        "structure_errors.jsonl",
        jsonl(shapes),
        {
            "verdict": "invalid",
            "format": "chat",
            "errors": [
                [2, "invalid_messages"],
                [3, "invalid_message"],
                [4, "missing_role"],
                [5, "invalid_content"],
            ],
        },
    )
    pairs: list[Any] = [{"prompt": f"Q{i}:", "completion": f" A{i}"} for i in range(10)]
    pairs[2] = {"prompt": 5, "completion": " A"}
    pairs[4] = {"prompt": "Q:"}
    write(
        "fine-tune",
        "legacy_errors.jsonl",
        jsonl(pairs),
        {
            "verdict": "invalid",
            "format": "prompt_completion",
            "errors": [[3, "invalid_prompt_completion"], [5, "invalid_prompt_completion"]],
        },
    )

    def user(content: Any) -> dict[str, Any]:
        return {"messages": [{"role": "user", "content": content}, chat(0)["messages"][2]]}

    def reply(content: Any) -> dict[str, Any]:
        return {"messages": [chat(0)["messages"][1], {"role": "assistant", "content": content}]}

    empty: list[Any] = [chat(i) for i in range(10)]
    empty[1] = user("")
    empty[2] = reply("")
    empty[3] = user([])
    empty[4] = user(None)
    empty[5] = reply([{"type": "text", "text": ""}])
    empty[6]["messages"][0]["content"] = ""  # an empty system message is allowed
    write(
        "fine-tune",
        "missing_content.jsonl",
        jsonl(empty),
        {
            "verdict": "invalid",
            "errors": [[i, "missing_content"] for i in (2, 3, 4, 5, 6)],
        },
    )

    tools: list[Any] = [tool_example(i) for i in range(11)]
    del tools[1]["messages"][2]["tool_call_id"]
    tools[2]["messages"][0]["tool_calls"] = [call(2)]
    del tools[3]["messages"][1]["tool_calls"][0]["id"]
    tools[4]["tools"] = [{"type": "function", "function": {"name": "get weather"}}]
    tools[5]["messages"][1]["tool_calls"] = [call(5, name="get weather")]
    tools[6]["parallel_tool_calls"] = "yes"
    tools[7] = {**chat(7), "functions": []}
    tools[8] = chat(8)
    tools[8]["messages"][1]["function_call"] = {"name": "f", "arguments": "{}"}
    tools[9] = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "function_call": {"name": "get_current_weather"}},
            {"role": "function", "name": "get_current_weather", "content": "18C"},
            {"role": "assistant", "content": "18C."},
        ]
    }
    tools[10] = {
        "messages": [
            {"role": "user", "content": "Weather?"},
            {"role": "assistant", "function_call": {"name": "f", "arguments": "{}"}},
            {"role": "function", "content": "18C"},
            {"role": "assistant", "content": "18C."},
        ]
    }
    write(
        "fine-tune",
        "tools_errors.jsonl",
        jsonl(tools),
        {
            "verdict": "invalid",
            "format": "chat",
            "errors": [
                [2, "missing_tool_call_id"],
                [3, "invalid_tool_calls"],
                [4, "invalid_tool_calls"],
                [5, "invalid_tools"],
                [6, "invalid_tool_calls"],
                [7, "invalid_parallel_tool_calls"],
                [8, "invalid_functions"],
                [9, "invalid_function_call"],
                [10, "invalid_function_call"],
                [11, "missing_name"],
            ],
        },
    )

    names: list[Any] = [chat(i) for i in range(10)]
    names[1]["messages"][1]["name"] = "Alice Smith"
    names[2]["messages"][2]["name"] = "x" * 65
    names[3]["messages"][0]["name"] = 42
    write(
        "fine-tune",
        "name_errors.jsonl",
        jsonl(names),
        {
            "verdict": "invalid",
            "errors": [[2, "invalid_name"], [3, "invalid_name"], [4, "invalid_name"]],
        },
    )

    png = image("PNG")
    ok = image_part(data_url(png))
    pictures: list[Any] = [with_image(i, ok) for i in range(13)]
    pictures[1] = with_image(1, image_part("data:image/png;base64,@@not*base64@@"))
    pictures[2] = with_image(2, image_part("data:text/plain;base64,aGVsbG8="))
    pictures[3] = with_image(3, image_part(data_url(image("GIF"), "image/gif")))
    pictures[4] = with_image(4, image_part(data_url(image("JPEG", "CMYK"), "image/jpeg")))
    pictures[5] = chat(5)
    pictures[5]["messages"][2]["content"] = [{"type": "text", "text": "Here:"}, ok]
    pictures[6] = with_image(6, *[ok] * 11)
    pictures[7] = with_image(7, image_part(data_url(png), detail="ultra"))
    pictures[8] = with_image(8, image_part("not a url"))
    pictures[9] = with_image(9, image_part(data_url(png[: len(png) // 2])))
    pictures[10] = chat(10)
    pictures[10]["messages"][0]["content"] = [{"type": "text", "text": "Look:"}, ok]
    pictures[11] = with_image(11, image_part(data_url(b"hello world, not an image")))
    write(
        "fine-tune",
        "image_errors.jsonl",
        jsonl(pictures),
        {
            "verdict": "invalid",
            "format": "chat",
            "errors": [
                [2, "invalid_image_data"],
                [3, "invalid_image_url"],
                [4, "unsupported_image_format"],
                [5, "invalid_image_mode"],
                [6, "image_in_assistant_message"],
                [7, "too_many_images"],
                [8, "invalid_image_detail"],
                [9, "invalid_image_url"],
                [10, "invalid_image"],
                [11, "invalid_content_part"],
                [12, "invalid_image"],
            ],
        },
    )

    # The format is decided once and every line is held to it, wherever the odd line is.
    legacy: list[Any] = [{"prompt": f"Q{i}:", "completion": f" A{i}"} for i in range(10)]
    legacy[5] = chat(5)
    write(
        "fine-tune",
        "legacy_with_a_chat_line.jsonl",
        jsonl(legacy),
        {"verdict": "invalid", "format": "prompt_completion", "errors": [[6, "mixed_formats"]]},
    )
    graded: list[Any] = [rft(i, reference_answer=str(3 * i)) for i in range(10)]
    graded[3] = chat(3)
    write(
        "fine-tune",
        "reinforcement_with_a_chat_line.jsonl",
        jsonl(graded),
        {"verdict": "invalid", "format": "reinforcement", "errors": [[4, "invalid_last_message"]]},
    )
    first: list[Any] = [chat(i) for i in range(10)]
    first[0] = {"messages": chat(0)["messages"][:2]}
    write(
        "fine-tune",
        "chat_first_without_assistant.jsonl",
        jsonl(first),
        {"verdict": "invalid", "format": "chat", "errors": [[1, "no_assistant_message"]]},
    )
    mixed: list[Any] = [chat(i) for i in range(10)]
    mixed[3] = {"prompt": "Q:", "completion": " A"}
    write(
        "fine-tune",
        "mixed_formats.jsonl",
        jsonl(mixed),
        {"verdict": "invalid", "format": "chat", "errors": [[4, "mixed_formats"]]},
    )
    rl: list[Any] = [rft(i, reference_answer=str(i)) for i in range(10)]
    rl[2]["messages"] = []
    rl[4]["messages"].insert(1, {"role": "tool", "content": "x"})
    rl[6]["messages"].append({"role": "developer", "content": "Think."})
    write(
        "fine-tune",
        "reinforcement_errors.jsonl",
        jsonl(rl),
        {
            "verdict": "invalid",
            "format": "reinforcement",
            "errors": [
                [3, "missing_messages"],
                [5, "missing_tool_call_id"],
                [7, "invalid_last_message"],
            ],
        },
    )

    # Not JSON Lines at all: said once, with how to convert.
    examples = [chat(i) for i in range(12)]
    for name, text in (
        ("json_array.jsonl", json.dumps(examples, indent=2)),
        ("pretty_object.jsonl", json.dumps(examples[0], indent=2)),
        ("one_line_array.jsonl", json.dumps(examples)),
    ):
        write(
            "fine-tune",
            name,
            text.encode(),
            {"verdict": "invalid", "errors": [[1, "not_jsonl"]]},
        )

    write(
        "fine-tune",
        "empty.jsonl",
        b"",
        {"verdict": "invalid", "errors": [[None, "empty_file"]], "stats": {"examples": 0}},
    )
    raw = [json.dumps(chat(i)).encode() for i in range(11)]
    raw[5] = raw[5].replace(b"What", b"Wh\xffat")
    write(
        "fine-tune",
        "not_utf8.jsonl",
        b"\n".join(raw) + b"\n",
        {"verdict": "invalid", "errors": [[6, "invalid_encoding"]]},
    )
    # Inside a field the fast path skips (a tool's parameters): still caught.
    raw = [json.dumps(tool_example(i)).encode() for i in range(10)]
    raw[2] = raw[2].replace(b"City and country", b"City \xc3\x28 country")
    write(
        "fine-tune",
        "not_utf8_in_tools.jsonl",
        b"\n".join(raw) + b"\n",
        {"verdict": "invalid", "errors": [[3, "invalid_encoding"]]},
    )
    write(
        "fine-tune",
        "not_objects.jsonl",
        jsonl([*[chat(i) for i in range(10)], [1, 2], '"x"']),
        {"verdict": "invalid", "errors": [[11, "invalid_json_line"], [12, "invalid_json_line"]]},
    )


def fine_tune() -> None:
    valid_files()
    error_files()
