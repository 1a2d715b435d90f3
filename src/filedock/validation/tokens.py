"""Offline tokenizers: o200k_base and cl100k_base from BPE files shipped inside the package.

tiktoken would download these files at first use; a self-hosted (often air-gapped) server must not,
so the files travel as package data and tiktoken's own loader checks their sha256.
"""

from __future__ import annotations

import functools
import threading
from importlib import resources
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    import tiktoken

ENDOFTEXT = "<|endoftext|>"
ENDOFPROMPT = "<|endofprompt|>"

_O200K_PATTERN = "|".join(
    [
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]*[\p{Ll}\p{Lm}\p{Lo}\p{M}]+(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""[^\r\n\p{L}\p{N}]?[\p{Lu}\p{Lt}\p{Lm}\p{Lo}\p{M}]+[\p{Ll}\p{Lm}\p{Lo}\p{M}]*(?i:'s|'t|'re|'ve|'m|'ll|'d)?""",
        r"""\p{N}{1,3}""",
        r""" ?[^\s\p{L}\p{N}]+[\r\n/]*""",
        r"""\s*[\r\n]+""",
        r"""\s+(?!\S)""",
        r"""\s+""",
    ]
)
_CL100K_PATTERN = (
    r"""'(?i:[sdmt]|ll|ve|re)|[^\r\n\p{L}\p{N}]?+\p{L}++|\p{N}{1,3}+| ?[^\s\p{L}\p{N}]++[\r\n]*+|"""
    r"""\s++$|\s*[\r\n]|\s+(?!\S)|\s"""
)

# name -> (file in filedock/validation/data, sha256 tiktoken checks, pattern, special tokens)
ENCODINGS: dict[str, tuple[str, str, str, dict[str, int]]] = {
    "o200k_base": (
        "o200k_base.tiktoken",
        "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
        _O200K_PATTERN,
        {ENDOFTEXT: 199999, ENDOFPROMPT: 200018},
    ),
    "cl100k_base": (
        "cl100k_base.tiktoken",
        "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
        _CL100K_PATTERN,
        {
            ENDOFTEXT: 100257,
            "<|fim_prefix|>": 100258,
            "<|fim_middle|>": 100259,
            "<|fim_suffix|>": 100260,
            ENDOFPROMPT: 100276,
        },
    ),
}

_lock = threading.Lock()


@functools.cache
def _load(name: str) -> tiktoken.Encoding:
    # Imported here, not at the top: a server start must not pay for it (about 60 ms).
    import tiktoken
    from tiktoken.load import load_tiktoken_bpe

    filename, sha256, pattern, special = ENCODINGS[name]
    path = resources.files("filedock.validation") / "data" / filename
    with resources.as_file(path) as local:
        ranks = load_tiktoken_bpe(str(local), expected_hash=sha256)
    return tiktoken.Encoding(name, pat_str=pattern, mergeable_ranks=ranks, special_tokens=special)


def encoding(name: str = "o200k_base") -> tiktoken.Encoding:
    """The named encoding, loaded once per process from the shipped file (never the network)."""
    if name not in ENCODINGS:
        raise ValueError(f"unknown encoding {name!r}; shipped: {', '.join(ENCODINGS)}")
    # Loading takes a second and much memory: never let two threads do it at once.
    with _lock:
        return _load(name)


def count_tokens(text: str, name: str = "o200k_base") -> int:
    """Tokens in `text`; special-token text such as <|endoftext|> counts as ordinary text."""
    return len(encoding(name).encode_ordinary(text))
