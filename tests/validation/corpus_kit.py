"""Helpers for writing the sample corpus (see make_corpus.py)."""

from __future__ import annotations

import base64
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


def image(kind: str, mode: str = "RGB", size: tuple[int, int] = (32, 24), **save: Any) -> bytes:
    out = io.BytesIO()
    color: Any = (200, 30, 30, 0)[: len(mode)] if mode not in ("L", "P", "1") else 128
    Image.new(mode, size, color).save(out, kind, **save)
    return out.getvalue()


def data_url(blob: bytes, media: str = "image/png") -> str:
    return f"data:{media};base64,{base64.b64encode(blob).decode()}"


def image_part(url: str, **extra: Any) -> dict[str, Any]:
    return {"type": "image_url", "image_url": {"url": url, **extra}}
