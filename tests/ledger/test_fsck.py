"""`filedock fsck`: the full audit of the blob store against the database, on both stacks, and
the command's exit codes."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from filedock.blobs.s3 import PART_SIZE
from filedock.cli import main
from filedock.services.fsck import Fsck
from tests.ledger.conftest import Stack
from tests.ledger.test_races import fine_tune_lines, post_file

pytestmark = pytest.mark.anyio


async def one(data: bytes) -> AsyncIterator[bytes]:
    yield data


async def test_fsck_reports_and_repairs(stack: Stack) -> None:
    c = stack.components
    kept = await post_file(c.files, fine_tune_lines(5))
    lost = await post_file(c.files, fine_tune_lines(6))
    tampered = await post_file(c.files, fine_tune_lines(7))
    assert (await c.fsck().run(verify=True)).ok

    orphan = "0" * 32
    await c.blobs.put(orphan, one(b"bytes no row or intent accounts for"))
    stray = "1" * 32
    writer = await c.blobs.begin_write(stray)  # an unfinished write nobody holds
    await writer.write(b"s" * (PART_SIZE + 1))
    await writer._drain()
    await c.blobs.delete(lost.blob_key)
    await c.blobs.discard(tampered.blob_key)
    await c.blobs.put(tampered.blob_key, one(b"x" * tampered.bytes))
    stack.clock.advance(5)  # the clock started before these files were written

    report = await c.fsck().run()
    assert not report.ok
    assert report.orphans == [orphan]
    assert report.strays == [stray]
    assert [ref.row_id for ref in report.missing] == [lost.id]
    assert report.mismatched == []  # only with verify
    verified = await c.fsck().run(verify=True)
    assert [(ref.row_id, what) for ref, what in verified.mismatched] == [(tampered.id, "sha256")]

    repaired = await c.fsck().run(repair=True)
    assert repaired.repaired == 2
    assert [k async for k, _ in c.blobs.list_temporaries()] == []
    after = await c.fsck().run()
    assert after.orphans == after.strays == []
    assert not after.ok  # a missing blob cannot be repaired: it stays reported
    assert [ref.row_id for ref in after.missing] == [lost.id]
    assert await c.blobs.size(kept.blob_key) == kept.bytes
    await writer.abort()


async def test_fsck_leaves_held_blobs_and_young_foreign_files_alone(stack: Stack) -> None:
    c = stack.components
    await c.leases.begin("2" * 32, "file")
    await c.blobs.put("2" * 32, one(b"committed, about to be published"))
    await c.blobs.put("3" * 32, one(b"a foreign file, just written"))
    patient = Fsck(c.blobs, c.ledger, c.sweeper, c.clock, grace_seconds=600)
    young = await patient.run(repair=True)
    assert young.young == ["3" * 32]
    assert young.orphans == [] and young.repaired == 0
    assert await c.blobs.size("2" * 32) > 0
    # Once the lease lapses (nobody renews), repair sweeps it the ledger's way.
    c.leases.held.clear()
    stack.clock.advance(60)
    swept = await c.fsck().run(repair=True)
    assert swept.lapsed_swept == 1
    assert swept.repaired == 1  # the foreign file, now past the (zero) grace
    assert (await c.fsck().run()).ok


def test_fsck_command_exit_codes(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = {"FILEDOCK_DATA_DIR": str(data_dir), "FILEDOCK_ORPHAN_GRACE_SECONDS": "0"}
    runner = CliRunner()
    clean = runner.invoke(main, ["fsck"], env=env)
    assert clean.exit_code == 0, clean.output
    assert clean.output.splitlines()[-1] == "clean"
    orphan = data_dir / "blobs" / "ab" / ("ab" + "0" * 30)
    orphan.parent.mkdir(parents=True)
    orphan.write_bytes(b"orphan")
    found = runner.invoke(main, ["fsck", "--verify"], env=env)
    assert found.exit_code == 1
    assert f"orphan blob (no row, no live intent): {orphan.name}" in found.output
    assert orphan.exists()  # read-only by default
    repaired = runner.invoke(main, ["fsck", "--repair"], env=env)
    assert repaired.exit_code == 0, repaired.output
    assert not orphan.exists()
    assert runner.invoke(main, ["fsck"], env=env).exit_code == 0
