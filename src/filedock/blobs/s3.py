"""Blobs as objects in an S3-compatible bucket (AWS S3, Ceph RGW, Swift s3api, MinIO, ...).

The client is boto3/botocore, always called from worker threads so the event loop never blocks.
boto3 was chosen over obstore because filedock needs the low-level multipart calls that obstore
does not expose: ListMultipartUploads/AbortMultipartUpload (clean-up of uploads whose server died)
and UploadPartCopy (server-side composition for the Uploads API). See README's design section.

Writes (parts, the multipart writer) live in blobs/s3_writer.py; the boto3 client, the bucket
check and the error mapping in blobs/s3_client.py.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import threading
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any

import anyio.to_thread
import botocore.exceptions

from filedock.blobs.base import READ_CHUNK, BlobInfo, BlobStore, BlobWriter
from filedock.blobs.s3_client import (
    MISSING,
    S3Location,
    check_bucket,
    error_code,
    make_client,
    storage_error,
)
from filedock.blobs.s3_writer import PART_SIZE, PROCESS_PARTS_IN_FLIGHT, MiB, S3BlobWriter
from filedock.errors import BlobNotFound, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

__all__ = ["PART_SIZE", "S3BlobStore", "S3Location"]


class S3BlobStore(BlobStore):
    """Blobs as objects `<prefix>/<key>` in one bucket; any number of servers may share it.

    Which unfinished multipart uploads are abandoned is the blob ledger's call (`discard`),
    never their age: S3 cannot tell which server owns an upload.
    """

    def __init__(
        self,
        url: str,
        *,
        endpoint_url: str = "",
        region: str = "us-east-1",
        access_key_id: str = "",
        secret_access_key: str = "",
        path_style: bool = False,
    ) -> None:
        location = S3Location.parse(url)
        self.url = url
        self.bucket = location.bucket
        self.prefix = location.prefix
        self.endpoint_url = endpoint_url or None
        self.region = region
        self._access_key_id = access_key_id or None
        self._secret_access_key = secret_access_key or None
        self.path_style = path_style
        self.part_budget = threading.BoundedSemaphore(PROCESS_PARTS_IN_FLIGHT)
        self._client: S3Client | None = None
        self._executor: concurrent.futures.ThreadPoolExecutor | None = None
        self._lock = threading.Lock()

    # plumbing ------------------------------------------------------------------------------
    def object_key(self, key: str) -> str:
        if not key or "/" in key or key.startswith("."):
            raise BlobNotFound(f"Invalid blob key: {key!r}")
        return f"{self.prefix}/{key}" if self.prefix else key

    @property
    def _list_prefix(self) -> str:
        return f"{self.prefix}/" if self.prefix else ""

    @property
    def client(self) -> S3Client:
        if self._client is None:
            raise StorageError("The blob store is not open")
        return self._client

    @property
    def executor(self) -> concurrent.futures.ThreadPoolExecutor:
        with self._lock:
            if self._executor is None:
                self._executor = concurrent.futures.ThreadPoolExecutor(
                    max_workers=16, thread_name_prefix="filedock-s3"
                )
            return self._executor

    def upload_part(
        self, object_key: str, upload_id: str, number: int, data: bytes
    ) -> dict[str, Any]:
        try:
            sent = self.client.upload_part(
                Bucket=self.bucket, Key=object_key, UploadId=upload_id, PartNumber=number, Body=data
            )
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise storage_error("store file bytes", exc) from exc
        return {"PartNumber": number, "ETag": sent["ETag"]}

    def _check_bucket(self) -> None:
        check_bucket(
            self.client,
            bucket=self.bucket,
            url=self.url,
            endpoint_url=self.endpoint_url,
            region=self.region,
        )

    # lifecycle -----------------------------------------------------------------------------
    async def open(self) -> None:
        def connect() -> None:
            if self._client is None:
                self._client = make_client(
                    endpoint_url=self.endpoint_url,
                    region=self.region,
                    access_key_id=self._access_key_id,
                    secret_access_key=self._secret_access_key,
                    path_style=self.path_style,
                )
            self._check_bucket()

        await anyio.to_thread.run_sync(connect)

    async def close(self) -> None:
        with self._lock:
            executor, self._executor = self._executor, None
        if executor is not None:
            await anyio.to_thread.run_sync(executor.shutdown)
        if self._client is not None:
            client, self._client = self._client, None
            client.close()

    async def ping(self) -> None:
        await anyio.to_thread.run_sync(self._check_bucket)

    # bytes ---------------------------------------------------------------------------------
    async def begin_write(self, key: str) -> BlobWriter:
        self.object_key(key)  # validate early
        return S3BlobWriter(self, key)

    async def read(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        object_key = self.object_key(key)
        if end is not None and end <= start:
            await self.size(key)  # still report a missing blob
            return
        request: dict[str, Any] = {"Bucket": self.bucket, "Key": object_key}
        if start > 0 or end is not None:
            request["Range"] = f"bytes={start}-{'' if end is None else end - 1}"

        def get() -> Any:
            try:
                return self.client.get_object(**request)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in MISSING:
                    raise BlobNotFound(f"Blob {key} is missing") from exc
                if error_code(exc) == "InvalidRange":
                    return None  # start at or past the end: nothing to send
                raise storage_error("read file bytes", exc) from exc
            except botocore.exceptions.BotoCoreError as exc:
                raise storage_error("read file bytes", exc) from exc

        response = await anyio.to_thread.run_sync(get)
        if response is None:
            return
        body = response["Body"]
        try:
            while True:
                try:
                    chunk = await anyio.to_thread.run_sync(body.read, READ_CHUNK)
                except (botocore.exceptions.BotoCoreError, OSError) as exc:
                    raise storage_error("read file bytes", exc) from exc
                if not chunk:
                    break
                yield chunk
        finally:
            body.close()

    async def size(self, key: str) -> int:
        object_key = self.object_key(key)

        def head() -> int:
            try:
                return int(
                    self.client.head_object(Bucket=self.bucket, Key=object_key)["ContentLength"]
                )
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in MISSING:
                    raise BlobNotFound(f"Blob {key} is missing") from exc
                raise storage_error("read file size", exc) from exc
            except botocore.exceptions.BotoCoreError as exc:
                raise storage_error("read file size", exc) from exc

        return await anyio.to_thread.run_sync(head)

    async def delete(self, key: str) -> None:
        object_key = self.object_key(key)

        def remove() -> None:
            try:
                self.client.delete_object(Bucket=self.bucket, Key=object_key)
            except botocore.exceptions.ClientError as exc:
                if error_code(exc) in MISSING:
                    return  # already gone: deletes are idempotent
                raise storage_error("delete file bytes", exc) from exc
            except botocore.exceptions.BotoCoreError as exc:
                raise storage_error("delete file bytes", exc) from exc

        await anyio.to_thread.run_sync(remove)

    async def list_keys(self) -> AsyncIterator[tuple[str, float]]:
        prefix = self._list_prefix
        token: str | None = None
        while True:
            request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix, "MaxKeys": 1000}
            if token:
                request["ContinuationToken"] = token

            def page(request: dict[str, Any] = request) -> Any:
                try:
                    return self.client.list_objects_v2(**request)
                except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                    raise storage_error("list file bytes", exc) from exc

            response = await anyio.to_thread.run_sync(page)
            for item in response.get("Contents", []):
                name = item["Key"][len(prefix) :]
                if name and "/" not in name:
                    yield name, item["LastModified"].timestamp()
            token = response.get("NextContinuationToken")
            if not response.get("IsTruncated") or not token:
                break

    async def compose_by_copy(self, dest_key: str, part_keys: list[str]) -> int:
        """Concatenate committed blobs into `dest_key` inside the object store (UploadPartCopy).

        No byte passes through this server. S3 needs every part but the last to be >= 5 MiB;
        otherwise ValueError is raised and the caller streams the parts instead. Returns the
        size. The sha256 is not computed here (the object store does not return one).
        Building block for the Uploads API's `compose` on S3.
        """
        dest = self.object_key(dest_key)
        sources = [self.object_key(k) for k in part_keys]
        sizes = [await self.size(k) for k in part_keys]
        if not sources or any(size < 5 * MiB for size in sizes[:-1]):
            raise ValueError("UploadPartCopy needs every part but the last to be >= 5 MiB")

        def copy() -> None:
            created = self.client.create_multipart_upload(Bucket=self.bucket, Key=dest)
            upload_id = created["UploadId"]
            try:
                futures = [
                    self.executor.submit(
                        self.client.upload_part_copy,
                        Bucket=self.bucket,
                        Key=dest,
                        UploadId=upload_id,
                        PartNumber=number,
                        CopySource={"Bucket": self.bucket, "Key": source},
                    )
                    for number, source in enumerate(sources, start=1)
                ]
                parts = [
                    {"PartNumber": number, "ETag": f.result()["CopyPartResult"]["ETag"]}
                    for number, f in enumerate(futures, start=1)
                ]
                self.client.complete_multipart_upload(
                    Bucket=self.bucket,
                    Key=dest,
                    UploadId=upload_id,
                    MultipartUpload={"Parts": parts},  # type: ignore[typeddict-item]
                )
            except BaseException:
                with contextlib.suppress(Exception):
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=dest, UploadId=upload_id
                    )
                raise

        try:
            await anyio.to_thread.run_sync(copy)
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
            raise storage_error("compose file bytes", exc) from exc
        return sum(sizes)

    async def compose(self, dest_key: str, part_keys: Sequence[str]) -> BlobInfo:
        """BlobStore.compose: UploadPartCopy inside the object store when S3 allows it (every
        part but the last >= 5 MiB, at most 10,000 parts); otherwise the parts are streamed
        through a writer in bounded blocks (constant memory, but the bytes do pass through).
        """
        sizes = [await self.size(key) for key in part_keys]  # BlobNotFound before any write
        copyable = (
            0 < len(part_keys) <= 10_000
            and all(size >= 5 * MiB for size in sizes[:-1])
            and all(size <= 5 * 1024 * MiB for size in sizes)
        )
        if copyable:
            return BlobInfo(dest_key, await self.compose_by_copy(dest_key, list(part_keys)), "")
        writer = await self.begin_write(dest_key)
        try:
            for key in part_keys:
                async for chunk in self.read(key):
                    await writer.write(chunk)
            info = await writer.commit()
        except BaseException:
            await writer.abort()
            raise
        return BlobInfo(dest_key, info.size, "")

    def _unfinished_uploads(self, prefix: str) -> list[dict[str, Any]]:
        """Every unfinished multipart upload whose object key starts with `prefix` (blocking)."""
        found: list[dict[str, Any]] = []
        request: dict[str, Any] = {"Bucket": self.bucket, "Prefix": prefix}
        while True:
            try:
                response = self.client.list_multipart_uploads(**request)
            except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError) as exc:
                raise storage_error("list unfinished uploads", exc) from exc
            found.extend(dict(upload) for upload in response.get("Uploads", []))
            if not response.get("IsTruncated"):
                return found
            request["KeyMarker"] = response.get("NextKeyMarker", "")
            request["UploadIdMarker"] = response.get("NextUploadIdMarker", "")

    async def list_temporaries(self) -> AsyncIterator[tuple[str, float]]:
        prefix = self._list_prefix
        uploads = await anyio.to_thread.run_sync(self._unfinished_uploads, prefix)
        for upload in uploads:
            name = str(upload["Key"])[len(prefix) :]
            if name and "/" not in name:
                yield name, upload["Initiated"].timestamp()

    async def discard(self, key: str) -> None:
        """Abort every unfinished multipart upload of `key`, then delete the object."""
        object_key = self.object_key(key)

        def abort() -> None:
            for upload in self._unfinished_uploads(object_key):
                if upload["Key"] != object_key:
                    continue
                try:
                    self.client.abort_multipart_upload(
                        Bucket=self.bucket, Key=object_key, UploadId=upload["UploadId"]
                    )
                except botocore.exceptions.ClientError as exc:
                    if error_code(exc) not in {"NoSuchUpload", "404"}:
                        raise storage_error("abort an unfinished upload", exc) from exc
                except botocore.exceptions.BotoCoreError as exc:
                    raise storage_error("abort an unfinished upload", exc) from exc

        await anyio.to_thread.run_sync(abort)
        await self.delete(key)
