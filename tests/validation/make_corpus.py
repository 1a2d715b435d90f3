"""Writes the sample corpus under tests/validation/corpus/ (run once; the output is committed).

    python -m tests.validation.make_corpus

Each sample gets a hand-written `<name>.expected.json`: the verdict and the (line, code) of every
error and warning, in line order. The expectations are written here, not copied from a run.
"""

from __future__ import annotations

import io
import json
from typing import Any

from PIL import Image

from tests.validation.corpus_batch import batch
from tests.validation.corpus_fine_tune import fine_tune
from tests.validation.corpus_kit import image, jsonl, write


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
    write(
        "evals",
        "json_array.jsonl",
        json.dumps(good, indent=2).encode(),
        {"verdict": "invalid", "errors": [[1, "not_jsonl"]]},
    )


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
    write(
        "vision",
        "cmyk.jpg",
        image("JPEG", "CMYK"),
        {"verdict": "invalid", "errors": [[None, "invalid_image_mode"]]},
    )
    write(
        "vision",
        "rgba.png",
        image("PNG", "RGBA"),
        {"verdict": "valid", "stats": {"width": 32, "height": 24}},
    )
    write(
        "vision",
        "grey.png",
        image("PNG", "L"),
        {"verdict": "valid", "warnings": [[None, "image_mode"]]},
    )


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
