"""Validation throughput: filedock's validators against a plain json.loads loop.

    python bench/bench_validation.py [--size-mb 200] [--dir /tmp]

Generates a batch file and a chat fine-tune file of --size-mb each, then measures
(a) filedock's structural validation (fine-tune without token counting) and (b) a baseline that
only checks each line is a JSON object, the full fine-tune check with token statistics, and the
CPU time to reject an assistants text file past 2,000,000 tokens. Figures are wall-clock MB/s
(MB = 10^6 bytes) of one process; the machine's load makes them noisy.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

from filedock.validation import ValidationOptions, validator_for
from filedock.validation.tokens import encoding

WORDS = (  # noqa: SIM905
    "the of and to in is you that it he was for on are as with his they at be this have from "
    "or one had by word but not what all were we when your can said there use an each which she "
    "do how their if will up other about out many then them these so some her would make like "
    "him into time has look two more write go see number no way could people my than first water "
    "been call who oil its now find long down day did get come made may part model file upload "
    "batch request response token server client storage validate report error line example"
).split()
CHUNK = 1024 * 1024


def sentence(rng: random.Random, n: int) -> str:
    return " ".join(rng.choices(WORDS, k=n)).capitalize() + "."


def write_batch(path: Path, size: int, rng: random.Random) -> None:
    with path.open("w") as out:
        i = written = 0
        while written < size:
            body = {
                "model": "gpt-4o-mini",
                "messages": [
                    {"role": "system", "content": sentence(rng, 20)},
                    {"role": "user", "content": sentence(rng, 650)},
                ],
                "max_tokens": 200,
            }
            line = json.dumps(
                {
                    "custom_id": f"request-{i}",
                    "method": "POST",
                    "url": "/v1/chat/completions",
                    "body": body,
                }
            )
            out.write(line + "\n")
            written += len(line) + 1
            i += 1


def write_fine_tune(path: Path, size: int, rng: random.Random) -> None:
    with path.open("w") as out:
        written = 0
        while written < size:
            example = {
                "messages": [
                    {"role": "system", "content": sentence(rng, 15)},
                    {"role": "user", "content": sentence(rng, rng.randint(20, 200))},
                    {"role": "assistant", "content": sentence(rng, rng.randint(20, 200))},
                    {"role": "user", "content": sentence(rng, rng.randint(10, 60))},
                    {
                        "role": "assistant",
                        "content": sentence(rng, rng.randint(10, 60)),
                        "weight": 1,
                    },
                ]
            }
            line = json.dumps(example)
            out.write(line + "\n")
            written += len(line) + 1


def chunks(path: Path) -> Iterator[bytes]:
    with path.open("rb") as f:
        while chunk := f.read(CHUNK):
            yield chunk


class Timing:
    """Wall and CPU seconds of one run (CPU time is the steadier figure on a busy machine)."""

    def __init__(self) -> None:
        self.wall = -time.perf_counter()
        self.cpu = -time.process_time()

    def stop(self) -> Timing:
        self.wall += time.perf_counter()
        self.cpu += time.process_time()
        return self


def run_filedock(path: Path, purpose: str, options: ValidationOptions) -> tuple[Timing, bool]:
    timing = Timing()
    validator = validator_for(purpose, path.name, options)
    for chunk in chunks(path):
        validator.feed(chunk)
        if validator.done:
            break
    report = validator.finish()
    return timing.stop(), report.valid


def run_baseline(path: Path) -> Timing:
    timing = Timing()
    with path.open("rb") as f:
        for line in f:
            if not isinstance(json.loads(line), dict):
                raise SystemExit("baseline: not an object")
    return timing.stop()


def best(runs: list[tuple[Timing, bool]]) -> Timing:
    """The fastest of several runs (wall and CPU taken separately); every run must be valid."""
    assert all(valid for _, valid in runs), "a generated file was reported invalid"
    fastest = Timing()
    fastest.wall = min(t.wall for t, _ in runs)
    fastest.cpu = min(t.cpu for t, _ in runs)
    return fastest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=float, default=200.0)
    parser.add_argument("--dir", default=None, help="where to write the generated files")
    parser.add_argument(
        "--repeat", type=int, default=3, help="structural runs: keep the best of N (noisy host)"
    )
    args = parser.parse_args()
    size = int(args.size_mb * 1_000_000)
    rng = random.Random(1234)
    encoding("o200k_base")  # load once, as a running server would have
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        folder = Path(tmp)
        batch, fine_tune = folder / "batch.jsonl", folder / "fine_tune.jsonl"
        write_batch(batch, size, rng)
        write_fine_tune(fine_tune, size, rng)
        structural = ValidationOptions(count_tokens=False, batch_max_tasks=10**9)
        print(f"files: {size / 1e6:.0f} MB each, cpu count {os.cpu_count()}")
        for name, path, purpose in (
            ("batch", batch, "batch"),
            ("fine-tune (structural)", fine_tune, "fine-tune"),
        ):
            mb = path.stat().st_size / 1e6
            ours = best([run_filedock(path, purpose, structural) for _ in range(args.repeat)])
            base = best([(run_baseline(path), True) for _ in range(args.repeat)])
            print(
                f"{name:24} filedock {mb / ours.wall:6.1f} MB/s ({mb / ours.cpu:6.1f} per CPU s)"
                f"   json.loads baseline {mb / base.wall:6.1f} MB/s ({mb / base.cpu:6.1f} per "
                f"CPU s)   ratio {base.wall / ours.wall:4.2f}x wall, "
                f"{base.cpu / ours.cpu:4.2f}x CPU"
            )
        mb = fine_tune.stat().st_size / 1e6
        full, valid = run_filedock(fine_tune, "fine-tune", ValidationOptions())
        assert valid
        print(
            f"{'fine-tune (with tokens)':24} filedock {mb / full.wall:6.1f} MB/s "
            f"({mb / full.cpu:6.1f} per CPU s)"
        )

        text = folder / "big.txt"
        with text.open("w") as out:
            # Prose with figures in it, as in reports and logs: about 4 bytes per token.
            while out.tell() < 9_000_000:
                figures = " ".join(f"{rng.randint(0, 99999):,}" for _ in range(8))
                out.write(f"{sentence(rng, 30)} Totals: {figures}.\n")
        cpu = time.process_time()
        wall = time.perf_counter()
        _, valid = run_filedock(text, "assistants", ValidationOptions())
        cpu = time.process_time() - cpu
        wall = time.perf_counter() - wall
        assert not valid, "the 9 MB text should pass 2M tokens"
        print(f"{'assistants 9 MB > 2M tok':24} rejected in {cpu:.2f} s CPU ({wall:.2f} s wall)")


if __name__ == "__main__":
    main()
