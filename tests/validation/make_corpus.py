"""Writes the sample corpus under tests/validation/corpus/ (run once; the output is committed).

Each sample gets a hand-written `<name>.expected.json`: the verdict and the (line, code) of every
error and warning, in report order. The expectations are written here, not copied from a run.
"""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image

ROOT = Path(__file__).parent / "corpus"


def chat(i: int, **extra: Any) -> dict[str, Any]:
    return {
        "messages": [
            {"role": "system", "content": "You answer briefly."},
            {"role": "user", "content": f"What is {i} + {i}?"},
            {"role": "assistant", "content": f"{2 * i}."},
        ],
        **extra,
    }


def jsonl(rows: list[Any]) -> bytes:
    return "".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in rows).encode()


def write(purpose: str, name: str, data: bytes, expected: dict[str, Any]) -> None:
    folder = ROOT / purpose
    folder.mkdir(parents=True, exist_ok=True)
    (folder / name).write_bytes(data)
    expected.setdefault("errors", [])
    expected.setdefault("warnings", [])
    (folder / f"{name}.expected.json").write_text(json.dumps(expected, indent=1) + "\n")


def fine_tune() -> None:
    rich = [
        chat(0),
        {
            "messages": [
                {"role": "developer", "content": "Use tools when useful."},
                {"role": "user", "content": "Weather in Paris?"},
                {
                    "role": "assistant",
                    "content": None,
                    "tool_calls": [
                        {
                            "id": "call_1",
                            "type": "function",
                            "function": {"name": "weather", "arguments": '{"city": "Paris"}'},
                        }
                    ],
                },
                {"role": "tool", "tool_call_id": "call_1", "content": "18C, sunny"},
                {"role": "assistant", "content": "18C and sunny.", "weight": 1},
            ],
            "tools": [
                {
                    "type": "function",
                    "function": {
                        "name": "weather",
                        "parameters": {
                            "type": "object",
                            "properties": {"city": {"type": "string"}},
                        },
                    },
                }
            ],
            "parallel_tool_calls": False,
        },
        {
            "messages": [
                {
                    "role": "user",
                    "content": [
                        {"type": "text", "text": "What is in this picture?"},
                        {"type": "image_url", "image_url": {"url": "https://example.com/a.png"}},
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
        },
    )

    legacy = [{"prompt": f"Q{i}:", "completion": f" A{i}"} for i in range(10)]
    write(
        "fine-tune",
        "legacy_valid.jsonl",
        jsonl(legacy),
        {"verdict": "valid", "format": "prompt_completion"},
    )

    pref = [
        {
            "input": {"messages": [{"role": "user", "content": f"Say hi {i}"}]},
            "preferred_output": [{"role": "assistant", "content": "Hi!"}],
            "non_preferred_output": [{"role": "assistant", "content": "Go away."}],
        }
        for i in range(10)
    ]
    write(
        "fine-tune",
        "preference_valid.jsonl",
        jsonl(pref),
        {"verdict": "valid", "format": "preference"},
    )
    bad_pref = [dict(p) for p in pref]
    bad_pref[3] = {**pref[3], "preferred_output": [{"role": "user", "content": "x"}]}
    bad_pref[7] = {**pref[7], "non_preferred_output": []}
    write(
        "fine-tune",
        "preference_errors.jsonl",
        jsonl(bad_pref),
        {
            "verdict": "invalid",
            "format": "preference",
            "errors": [[4, "invalid_preference_output"], [8, "invalid_preference_output"]],
        },
    )

    rl = [
        {
            "messages": [
                {"role": "developer", "content": "Solve it."},
                {"role": "user", "content": f"{i} * 3 = ?"},
            ],
            "reference_answer": str(3 * i),
        }
        for i in range(10)
    ]
    write(
        "fine-tune",
        "reinforcement_valid.jsonl",
        jsonl(rl),
        {"verdict": "valid", "format": "reinforcement"},
    )

    mixed: list[Any] = [chat(i) for i in range(10)]
    mixed[3] = {"prompt": "Q:", "completion": " A"}
    write(
        "fine-tune",
        "mixed_formats.jsonl",
        jsonl(mixed),
        {
            "verdict": "invalid",
            "format": "chat",
            "errors": [[4, "mixed_formats"]],
        },
    )

    write(
        "fine-tune",
        "too_few.jsonl",
        jsonl([chat(i) for i in range(3)]),
        {"verdict": "invalid", "errors": [[None, "too_few_examples"]]},
    )
    write(
        "fine-tune",
        "empty.jsonl",
        b"",
        {
            "verdict": "invalid",
            "errors": [[None, "too_few_examples"]],
            "stats": {"lines": 0, "examples": 0},
        },
    )

    # UTF-8 BOM, CRLF endings, a blank line (line 4) and no final newline: valid, two warnings.
    lines = [json.dumps(chat(i)) for i in range(10)]
    lines.insert(3, "")
    data = b"\xef\xbb\xbf" + "\r\n".join(lines).encode()
    write(
        "fine-tune",
        "bom_crlf_blank_no_final_newline.jsonl",
        data,
        {
            "verdict": "valid",
            "warnings": [[1, "utf8_bom"], [4, "blank_line"]],
            "stats": {"lines": 11, "examples": 10},
        },
    )

    raw = [json.dumps(chat(i)).encode() for i in range(11)]
    raw[5] = raw[5].replace(b"What", b"Wh\xffat")
    write(
        "fine-tune",
        "not_utf8.jsonl",
        b"\n".join(raw) + b"\n",
        {"verdict": "invalid", "errors": [[6, "invalid_encoding"]]},
    )

    write(
        "fine-tune",
        "not_objects.jsonl",
        jsonl([*[chat(i) for i in range(10)], [1, 2], '"x"']),
        {"verdict": "invalid", "errors": [[11, "invalid_json_line"], [12, "invalid_json_line"]]},
    )


def batch() -> None:
    def req(i: int, **over: Any) -> dict[str, Any]:
        row = {
            "custom_id": f"req-{i}",
            "method": "POST",
            "url": "/v1/chat/completions",
            "body": {"model": "gpt-4o-mini", "messages": [{"role": "user", "content": "hi"}]},
        }
        row.update(over)
        return row

    write(
        "batch",
        "valid.jsonl",
        jsonl([req(i) for i in range(5)]),
        {"verdict": "valid", "stats": {"lines": 5, "requests": 5}},
    )
    rows: list[Any] = [req(i) for i in range(9)]
    rows[2] = req(0)
    rows[3] = req(3, url="/v1/embeddings")
    rows[4] = req(4, body={"model": "gpt-4o"})
    rows[5] = req(5, method="GET")
    rows[6] = '{"custom_id": "req-6", "method": "POST",'
    rows[7] = req(7, body="hello")
    rows[8] = req(8, url="/v1/unknown")
    write(
        "batch",
        "errors.jsonl",
        jsonl(rows),
        {
            "verdict": "invalid",
            "errors": [
                [3, "duplicate_custom_id"],
                [4, "url_mismatch"],
                [5, "model_mismatch"],
                [6, "invalid_method"],
                [7, "invalid_json_line"],
                [8, "invalid_body"],
                [9, "invalid_url"],
            ],
        },
    )
    missing = [req(0), {"custom_id": "req-1", "method": "POST", "url": "/v1/chat/completions"}]
    write(
        "batch",
        "missing_body.jsonl",
        jsonl(missing),
        {"verdict": "invalid", "errors": [[2, "missing_field"]]},
    )
    write("batch", "empty.jsonl", b"", {"verdict": "invalid", "errors": [[None, "empty_file"]]})
    write(
        "batch",
        "blank_lines_only.jsonl",
        b"\n\r\n  \n",
        {
            "verdict": "invalid",
            "errors": [[None, "empty_file"]],
            "warnings": [[1, "blank_line"], [2, "blank_line"], [3, "blank_line"]],
        },
    )


def evals() -> None:
    good = [{"item": {"q": "2+2", "a": "4"}}, {"item": {"q": "3+3"}, "sample": {"output": "6"}}]
    write("evals", "valid.jsonl", jsonl(good), {"verdict": "valid", "stats": {"items": 2}})
    bad: list[Any] = [
        good[0],
        {"sample": {}},
        {"item": "text"},
        {"item": {}, "sample": None},
        {"item": {}, "extra": 1},
        "not json",
    ]
    write(
        "evals",
        "errors.jsonl",
        jsonl(bad),
        {
            "verdict": "invalid",
            "errors": [
                [2, "missing_item"],
                [3, "invalid_item"],
                [4, "invalid_sample"],
                [5, "unrecognized_key"],
                [6, "invalid_json_line"],
            ],
        },
    )
    write("evals", "empty.jsonl", b"", {"verdict": "invalid", "errors": [[None, "empty_file"]]})


def image(kind: str, **save: Any) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (32, 24), (200, 30, 30)).save(out, kind, **save)
    return out.getvalue()


def vision() -> None:
    for name, kind in (
        ("ok.png", "PNG"),
        ("ok.jpg", "JPEG"),
        ("ok.webp", "WEBP"),
        ("ok.gif", "GIF"),
    ):
        write(
            "vision", name, image(kind), {"verdict": "valid", "stats": {"width": 32, "height": 24}}
        )
    frames = [Image.new("RGB", (16, 16), c) for c in ((255, 0, 0), (0, 255, 0))]
    out = io.BytesIO()
    frames[0].save(out, "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    write(
        "vision",
        "animated.gif",
        out.getvalue(),
        {"verdict": "invalid", "errors": [[None, "animated_image"]]},
    )
    write(
        "vision",
        "bitmap.bmp",
        image("BMP"),
        {"verdict": "invalid", "errors": [[None, "unsupported_image_format"]]},
    )
    png = image("PNG")
    write(
        "vision",
        "truncated.png",
        png[: len(png) // 2],
        {"verdict": "invalid", "errors": [[None, "invalid_image"]]},
    )
    jpg = image("JPEG")
    write(
        "vision",
        "truncated.jpg",
        jpg[: len(jpg) // 2],
        {"verdict": "invalid", "errors": [[None, "invalid_image"]]},
    )
    write(
        "vision",
        "text.png",
        b"this is not an image\n",
        {"verdict": "invalid", "errors": [[None, "invalid_image"]]},
    )
    write("vision", "empty.png", b"", {"verdict": "invalid", "errors": [[None, "empty_file"]]})


def assistants() -> None:
    import docx
    import pptx
    from pypdf import PdfWriter

    text = "Hello world! The OpenAI Files API stores JSONL files for fine-tuning and batch jobs.\n"
    write("assistants", "notes.txt", text.encode(), {"verdict": "valid", "stats": {"tokens": 20}})
    write(
        "assistants",
        "notes_utf16.md",
        text.encode("utf-16"),
        {"verdict": "valid", "stats": {"tokens": 20}},
    )
    write(
        "assistants",
        "latin1.txt",
        "café crème\n".encode("latin-1"),
        {"verdict": "invalid", "errors": [[None, "invalid_encoding"]]},
    )
    html = "<html><head><style>p {color: red}</style><script>var x = 1;</script></head>"
    html += "<body><p>Hello world! The OpenAI Files API stores JSONL files for fine-tuning "
    html += "and batch jobs.</p></body></html>"
    write("assistants", "page.html", html.encode(), {"verdict": "valid", "stats": {"tokens": 20}})
    write(
        "assistants",
        "program.exe",
        b"MZ\x90\x00",
        {"verdict": "invalid", "errors": [[None, "unsupported_file_type"]]},
    )
    write("assistants", "data.zip", b"PK\x05\x06" + b"\x00" * 18, {"verdict": "valid"})

    document = docx.Document()
    document.add_paragraph("Hello world! The OpenAI Files API stores JSONL files.")
    out = io.BytesIO()
    document.save(out)
    write("assistants", "doc.docx", out.getvalue(), {"verdict": "valid"})
    deck = pptx.Presentation()
    slide = deck.slides.add_slide(deck.slide_layouts[1])
    slide.shapes.title.text = "Files API"
    out = io.BytesIO()
    deck.save(out)
    write("assistants", "deck.pptx", out.getvalue(), {"verdict": "valid"})
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    out = io.BytesIO()
    writer.write(out)
    write("assistants", "blank.pdf", out.getvalue(), {"verdict": "valid", "stats": {"tokens": 0}})
    write(
        "assistants",
        "broken.docx",
        b"not a zip at all",
        {"verdict": "invalid", "errors": [[None, "unreadable_document"]]},
    )
    write(
        "assistants",
        "broken.pdf",
        b"%PDF-1.4\nnonsense",
        {"verdict": "invalid", "errors": [[None, "unreadable_document"]]},
    )


if __name__ == "__main__":
    fine_tune()
    batch()
    evals()
    vision()
    assistants()
