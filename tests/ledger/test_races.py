"""A sweep at every step of every write: nothing alive is ever deleted, nothing dead is kept.

The services call `leases.step(name, key)` between the steps of a write (a test hook). Here the
hook moves the clock three leases on, lets the renewer do what it does while the work is alive
(`renew_now`), and runs a full sweep: the old age rules would have deleted the temporary, the
committed blob or the composed file at most of these points. Then the file must be there,
byte-exact, and a final sweep and fsck find nothing. A second set of tests stops renewing (the
process hung for a whole lease): the sweep takes the blob, and the write fails cleanly, leaving
no row and no bytes behind. Runs on SQLite + disk and on PostgreSQL + S3.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest

from filedock.errors import FiledockError, MetadataError
from filedock.models import DEFAULT_PROJECT_ID, FileRecord
from filedock.services.files import FileService
from filedock.services.sweeper import SweepReport
from tests.ledger.conftest import LEASE, Stack

pytestmark = pytest.mark.anyio

FILE_STEPS = [
    "file.intent",
    "file.writing",
    "file.received",
    "file.committed",
    "publish.validating",
    "publish.validated",
    "publish.inserting",
    "publish.inserted",
]
PART_STEPS = ["part.intent", "part.writing", "part.received", "part.committed", "part.inserted"]
COMPLETE_STEPS = [
    "compose.intent",
    "compose.composed",
    "publish.validating",
    "publish.validated",
    "publish.inserting",
    "publish.inserted",
]


def fine_tune_lines(count: int) -> bytes:
    line = {
        "messages": [
            {"role": "user", "content": "What is the capital of France?"},
            {"role": "assistant", "content": "Paris."},
        ]
    }
    return b"".join(json.dumps(line).encode() + b"\n" for _ in range(count))


def sweeping_hook(stack: Stack, seen: list[str], *, renew: bool = True, only: str = "") -> Any:
    """At each step (or only at `only`): time passes, the renewer runs if alive, a sweep runs."""
    c = stack.components

    async def hook(step: str, key: str) -> None:
        seen.append(step)
        if only and step != only:
            return
        stack.clock.advance(3 * LEASE)
        if renew:
            await c.leases.renew_now()
        report = await c.sweeper.sweep()
        if renew:
            assert report.lapsed == 0, f"a sweep at {step} deleted a live blob"

    return hook


async def post_file(files: FileService, data: bytes, filename: str = "train.jsonl") -> FileRecord:
    upload = files.create_file(DEFAULT_PROJECT_ID)
    upload.set_purpose("fine-tune")
    await upload.open(filename)
    half = len(data) // 2
    await upload.write(data[:half])
    await upload.write(data[half:])
    return await upload.finish()


async def content(files: FileService, record: FileRecord) -> bytes:
    stream = await files.open_content(record, 0, record.bytes)
    return b"".join([chunk async for chunk in stream])


async def via_uploads(stack: Stack, data: bytes) -> FileRecord:
    uploads = stack.components.uploads
    view = await uploads.create_upload(
        DEFAULT_PROJECT_ID,
        filename="train.jsonl",
        purpose="fine-tune",
        bytes=len(data),
        mime_type="application/jsonl",
    )
    part_ids = []
    half = len(data) // 2
    for piece in (data[:half], data[half:]):
        part = await uploads.add_upload_part(DEFAULT_PROJECT_ID, view.upload.id)
        await part.open()
        await part.write(piece)
        part_ids.append((await part.finish()).id)
    done = await uploads.complete_upload(
        DEFAULT_PROJECT_ID, view.upload.id, part_ids, hashlib.md5(data).hexdigest()
    )
    assert done.file is not None
    return done.file


async def assert_clean(stack: Stack) -> None:
    c = stack.components
    c.leases.on_step = None
    stack.clock.advance(3 * LEASE)
    report = await c.sweeper.sweep()
    assert report.lapsed == 0
    audit = await c.fsck().run(verify=True)
    assert audit.ok, audit.lines()
    assert audit.orphans == [] and audit.strays == [] and audit.missing == []


async def test_a_sweep_at_every_step_of_post_files_deletes_nothing(stack: Stack) -> None:
    seen: list[str] = []
    stack.components.leases.on_step = sweeping_hook(stack, seen)
    data = fine_tune_lines(50)
    record = await post_file(stack.components.files, data)
    assert seen == FILE_STEPS
    assert record.status == "processed"
    assert await content(stack.components.files, record) == data
    await assert_clean(stack)


async def test_a_sweep_at_every_step_of_the_uploads_api_deletes_nothing(stack: Stack) -> None:
    seen: list[str] = []
    stack.components.leases.on_step = sweeping_hook(stack, seen)
    data = fine_tune_lines(80)
    record = await via_uploads(stack, data)
    assert seen == PART_STEPS * 2 + COMPLETE_STEPS
    assert record.bytes == len(data)
    assert await content(stack.components.files, record) == data
    await assert_clean(stack)


@pytest.mark.parametrize("step", FILE_STEPS[:-1])
async def test_a_hung_write_loses_its_blob_cleanly(stack: Stack, step: str) -> None:
    """No renewal for three leases at `step`: the sweep takes the blob; no row, no bytes."""
    c = stack.components
    seen: list[str] = []
    c.leases.on_step = sweeping_hook(stack, seen, renew=False, only=step)
    with pytest.raises((FiledockError, MetadataError)):
        await post_file(c.files, fine_tune_lines(20))
    assert step in seen
    page = await c.metadata.list_files(
        DEFAULT_PROJECT_ID, purpose=None, limit=10, order="asc", after=None, now=c.clock.now()
    )
    assert page.data == []  # nothing published without its bytes
    await assert_clean(stack)


@pytest.mark.parametrize("step", ["part.committed", "compose.composed", "publish.inserting"])
async def test_a_hung_upload_loses_its_blob_cleanly(stack: Stack, step: str) -> None:
    c = stack.components
    seen: list[str] = []
    c.leases.on_step = sweeping_hook(stack, seen, renew=False, only=step)
    with pytest.raises((FiledockError, MetadataError)):
        await via_uploads(stack, fine_tune_lines(20))
    assert step in seen
    await assert_clean(stack)


async def test_a_crash_between_commit_and_insert_is_swept_once_the_lease_lapses(
    stack: Stack,
) -> None:
    c = stack.components
    key = "crashed" + "0" * 25
    await c.leases.begin(key, "file")
    writer = await c.blobs.begin_write(key)
    await writer.write(b"bytes nobody will publish")
    await writer.commit()
    c.leases.held.clear()  # the process is gone: nobody renews
    assert (await c.sweeper.sweep()).lapsed == 0  # the lease still runs
    stack.clock.advance(LEASE + 1)
    report = SweepReport()
    await c.sweeper.sweep_ledger(report)
    assert report.lapsed == 1
    assert [k async for k, _ in c.blobs.list_keys()] == []
    intent = await c.ledger.get(key)
    assert intent is not None and intent.state == "swept"
    # A row for the swept key can never appear (the stalled process woke up after all).
    with pytest.raises(MetadataError, match="lease lost"):
        await c.metadata.insert_file(
            FileRecord(
                id="file-late",
                project_id=DEFAULT_PROJECT_ID,
                purpose="user_data",
                filename="late.txt",
                bytes=1,
                created_at=c.clock.now(),
                expires_at=None,
                status="processed",
                status_details=None,
                sha256="",
                blob_key=key,
            )
        )
    await assert_clean(stack)
