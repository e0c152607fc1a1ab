"""Object storage for attachments and avatars: one small async interface, two implementations.

Browsers upload straight to storage with a presigned POST (the policy fixes the key, the exact
size and the Content-Type) and download through short-lived signed URLs. ``S3Store`` hands
out S3's own; ``LocalDiskStore`` (the embedded default) signs the same shapes with an HMAC
key and Tipline serves them (api/media.py), so the browser flow is identical on both.
See docs/subsystems/media.md.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import re
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import quote, urlencode, urlsplit

import orjson
from pydantic import SecretStr

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client
    from mypy_boto3_s3.type_defs import ObjectIdentifierTypeDef

    from tipline.config import Settings

# Keys are made by Tipline (never taken from a client), but the disk store checks them anyway
# so a bug can never turn a key into a path outside its folder.
KEY_RE = re.compile(r"^[a-z][a-z\-]*(/[A-Za-z0-9_\-]+)+(\.[a-z0-9]+)*$")


@dataclass(frozen=True)
class PresignedPost:
    url: str
    fields: dict[str, str]


@dataclass(frozen=True)
class ObjectInfo:
    size: int
    content_type: str | None


@dataclass(frozen=True)
class Delivery:
    """How a download is presented: the type, and inline or as a file named ``filename``."""

    content_type: str
    filename: str
    inline: bool

    def disposition(self) -> str:
        # RFC 6266: an ASCII fallback plus the exact UTF-8 name.
        ascii_name = "".join(c if " " <= c <= "~" and c not in '"\\' else "_" for c in self.filename)
        kind = "inline" if self.inline else "attachment"
        return f"{kind}; filename=\"{ascii_name}\"; filename*=UTF-8''{quote(self.filename, safe='')}"


class ObjectStore(Protocol):
    async def presign_post(self, key: str, *, content_type: str, size: int, expires_s: int) -> PresignedPost:
        """A browser form upload of exactly ``size`` bytes of ``content_type`` to ``key``."""
        ...

    async def presign_get(self, key: str, *, delivery: Delivery, expires_s: int) -> str:
        """A URL that downloads ``key`` as ``delivery`` says, valid for ``expires_s`` seconds."""
        ...

    async def head(self, key: str) -> ObjectInfo | None: ...

    async def read(self, key: str, *, limit: int | None = None) -> bytes:
        """The object's bytes (the first ``limit`` of them when given)."""
        ...

    async def put(self, key: str, data: bytes, *, content_type: str) -> None: ...

    async def copy(self, source: str, target: str) -> bool:
        """Make ``target`` a copy of ``source`` as it is now: a later write to ``source`` does not
        reach it, and it is never part one version, part another. False if ``source`` is missing."""
        ...

    async def delete(self, keys: list[str]) -> None:
        """Delete objects; a key that does not exist is not an error."""
        ...


def check_key(key: str) -> str:
    if not KEY_RE.fullmatch(key) or ".." in key:
        raise ValueError(f"invalid object key: {key!r}")
    return key


# --- local disk ---------------------------------------------------------------------------------


class LocalDiskStore:
    """Files under ``root``; uploads and downloads go through Tipline's /media/local routes."""

    UPLOAD_PATH = "/media/local/upload"
    OBJECT_PATH = "/media/local/objects/"

    def __init__(self, root: Path, *, signing_key: bytes, public_url: str) -> None:
        self.root = root
        self._key = signing_key
        self._base = public_url.rstrip("/")

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def sign(self, message: bytes) -> str:
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    # Upload policies: base64 JSON, signed; the upload route checks them (verify_policy).
    async def presign_post(self, key: str, *, content_type: str, size: int, expires_s: int) -> PresignedPost:
        policy = {"key": check_key(key), "content_type": content_type, "size": size, "exp": _now() + expires_s}
        encoded = base64.urlsafe_b64encode(orjson.dumps(policy)).decode()
        fields = {
            "key": key,
            "Content-Type": content_type,
            "policy": encoded,
            "signature": self.sign(b"post\n" + encoded.encode()),
        }
        return PresignedPost(url=self._base + self.UPLOAD_PATH, fields=fields)

    def verify_policy(self, encoded: str, signature: str, *, now: int | None = None) -> dict[str, Any] | None:
        """The policy if its signature is ours and it has not expired; None otherwise."""
        if not hmac.compare_digest(self.sign(b"post\n" + encoded.encode()), signature):
            return None
        try:
            policy: dict[str, Any] = orjson.loads(base64.urlsafe_b64decode(encoded.encode()))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if int(policy.get("exp", 0)) < (now if now is not None else _now()):
            return None
        return policy

    # Download URLs: the key and every response header choice are covered by the signature.
    def _get_message(self, key: str, exp: int, delivery: Delivery) -> bytes:
        disp = "inline" if delivery.inline else "attachment"
        return "\n".join(("get", key, str(exp), delivery.content_type, disp, delivery.filename)).encode()

    async def presign_get(self, key: str, *, delivery: Delivery, expires_s: int) -> str:
        exp = _now() + expires_s
        query = {
            "exp": str(exp),
            "ct": delivery.content_type,
            "disp": "inline" if delivery.inline else "attachment",
            "fn": delivery.filename,
            "sig": self.sign(self._get_message(check_key(key), exp, delivery)),
        }
        return f"{self._base}{self.OBJECT_PATH}{key}?{urlencode(query)}"

    def verify_get(self, key: str, query: dict[str, str], *, now: int | None = None) -> Delivery | None:
        """The delivery the URL was signed for, if the signature holds and it has not expired."""
        try:
            exp = int(query["exp"])
            delivery = Delivery(content_type=query["ct"], filename=query["fn"], inline=query["disp"] == "inline")
            signature = query["sig"]
            check_key(key)
        except (KeyError, ValueError):
            return None
        if not hmac.compare_digest(self.sign(self._get_message(key, exp, delivery)), signature):
            return None
        if exp < (now if now is not None else _now()):
            return None
        return delivery

    async def head(self, key: str) -> ObjectInfo | None:
        path = self.path(key)
        try:
            size = (await asyncio.to_thread(path.stat)).st_size
        except FileNotFoundError:
            return None
        return ObjectInfo(size=size, content_type=None)

    async def read(self, key: str, *, limit: int | None = None) -> bytes:
        path = self.path(key)

        def _read() -> bytes:
            with path.open("rb") as f:
                return f.read() if limit is None else f.read(limit)

        return await asyncio.to_thread(_read)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(self.write_atomically, key, data)

    def write_atomically(self, key: str, data: bytes | Path) -> None:
        """Write (or move a finished temporary file) into place, so readers never see half a file."""
        path = self.path(key)
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(data, Path):
            os.replace(data, path)
            return
        tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
        tmp.write_bytes(data)
        os.replace(tmp, path)

    async def copy(self, source: str, target: str) -> bool:
        src, dst = self.path(source), self.path(target)

        def _copy() -> bool:
            dst.parent.mkdir(parents=True, exist_ok=True)
            try:
                # Files are only ever moved into place whole, never written in place, so a hard
                # link is the file as it is now: a later upload replaces the name, not this file.
                os.link(src, dst)
                return True
            except FileNotFoundError:
                return False
            except OSError:
                pass  # no hard links here: copy from one open file, which is the same snapshot
            try:
                source_file = src.open("rb")
            except FileNotFoundError:
                return False
            tmp = dst.with_name(f".{dst.name}.{uuid.uuid4().hex}.tmp")
            with source_file, tmp.open("wb") as out:
                shutil.copyfileobj(source_file, out)
            os.replace(tmp, dst)
            return True

        return await asyncio.to_thread(_copy)

    async def delete(self, keys: list[str]) -> None:
        def _delete() -> None:
            for key in keys:
                self.path(key).unlink(missing_ok=True)

        await asyncio.to_thread(_delete)


# --- S3 -----------------------------------------------------------------------------------------


class S3Store:
    """Any S3-compatible store through boto3 (its calls block, so they run in a thread)."""

    def __init__(self, client: S3Client, *, bucket: str, signer: S3Client | None = None) -> None:
        self._s3 = client
        # Presigned URLs are for browsers: signed for the store's public address when it is not
        # the one Tipline itself uses (a compose network name, a private endpoint).
        self._signer = signer or client
        self.bucket = bucket

    @classmethod
    def from_settings(cls, settings: Settings) -> S3Store:
        import boto3
        from botocore.config import Config

        key_id = settings.s3_access_key_id.get_secret_value() if settings.s3_access_key_id else None
        secret = settings.s3_secret_access_key.get_secret_value() if settings.s3_secret_access_key else None

        def client_for(endpoint: str | None) -> S3Client:
            return boto3.client(
                "s3",
                endpoint_url=endpoint,
                region_name=settings.s3_region,
                aws_access_key_id=key_id,
                aws_secret_access_key=secret,
                config=Config(signature_version="s3v4", s3={"addressing_style": settings.s3_addressing_style}),
            )

        public = settings.s3_public_endpoint_url
        signer = client_for(public) if public and public != settings.s3_endpoint_url else None
        return cls(client_for(settings.s3_endpoint_url), bucket=settings.s3_bucket, signer=signer)

    async def presign_post(self, key: str, *, content_type: str, size: int, expires_s: int) -> PresignedPost:
        post = await asyncio.to_thread(
            self._signer.generate_presigned_post,
            self.bucket,
            check_key(key),
            Fields={"Content-Type": content_type},
            Conditions=[{"Content-Type": content_type}, ["content-length-range", size, size]],
            ExpiresIn=expires_s,
        )
        return PresignedPost(url=post["url"], fields={k: str(v) for k, v in post["fields"].items()})

    async def presign_get(self, key: str, *, delivery: Delivery, expires_s: int) -> str:
        url: str = await asyncio.to_thread(
            self._signer.generate_presigned_url,
            "get_object",
            Params={
                "Bucket": self.bucket,
                "Key": check_key(key),
                "ResponseContentType": delivery.content_type,
                "ResponseContentDisposition": delivery.disposition(),
            },
            ExpiresIn=expires_s,
        )
        return url

    async def head(self, key: str) -> ObjectInfo | None:
        from botocore.exceptions import ClientError

        try:
            meta = await asyncio.to_thread(self._s3.head_object, Bucket=self.bucket, Key=key)
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return None
            raise
        return ObjectInfo(size=int(meta["ContentLength"]), content_type=meta.get("ContentType"))

    async def read(self, key: str, *, limit: int | None = None) -> bytes:
        def _read() -> bytes:
            extra = {"Range": f"bytes=0-{limit - 1}"} if limit else {}
            body = self._s3.get_object(Bucket=self.bucket, Key=key, **extra)["Body"]  # type: ignore[arg-type]
            try:
                return body.read()
            finally:
                body.close()

        return await asyncio.to_thread(_read)

    async def put(self, key: str, data: bytes, *, content_type: str) -> None:
        await asyncio.to_thread(
            self._s3.put_object, Bucket=self.bucket, Key=check_key(key), Body=data, ContentType=content_type
        )

    async def copy(self, source: str, target: str) -> bool:
        from botocore.exceptions import ClientError

        try:
            # One CopyObject copies one version of the source, whole. It takes up to 5 GB, which
            # is also the most a presigned POST can upload.
            await asyncio.to_thread(
                self._s3.copy_object,
                Bucket=self.bucket,
                Key=check_key(target),
                CopySource={"Bucket": self.bucket, "Key": check_key(source)},
            )
        except ClientError as exc:
            if exc.response.get("Error", {}).get("Code") in ("404", "NoSuchKey", "NotFound"):
                return False
            raise
        return True

    async def delete(self, keys: list[str]) -> None:
        for start in range(0, len(keys), 1000):  # DeleteObjects takes at most 1,000 keys
            chunk: list[ObjectIdentifierTypeDef] = [{"Key": k} for k in keys[start : start + 1000]]
            await asyncio.to_thread(self._s3.delete_objects, Bucket=self.bucket, Delete={"Objects": chunk})


def build_object_store(settings: Settings, *, signing_key: bytes) -> ObjectStore:
    """The one place the store is chosen: S3 when MEDIA_BACKEND=s3, else the local disk."""
    if settings.media_backend == "s3":
        return S3Store.from_settings(settings)
    root = settings.media_dir or settings.data_dir / "media"
    return LocalDiskStore(root, signing_key=signing_key, public_url=settings.public_url)


@dataclass(frozen=True)
class MediaOrigins:
    """The origins other than Tipline's own that the page uploads to and loads media from."""

    upload: str | None = None
    download: str | None = None


# An origin as a Content-Security-Policy source list may name it (nothing that could end a directive).
_CSP_ORIGIN_RE = re.compile(r"^https?://(?:[A-Za-z0-9.-]+|\[[0-9A-Fa-f:.]+\])(?::\d{1,5})?$")


def _csp_origin(url: str) -> str:
    parts = urlsplit(url)
    origin = f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"
    if not _CSP_ORIGIN_RE.fullmatch(origin):
        raise ValueError(
            f"S3 URLs for browsers go to {origin!r}, which a Content-Security-Policy cannot name: "
            "check S3_PUBLIC_ENDPOINT_URL and S3_ENDPOINT_URL"
        )
    return origin


def media_origins(settings: Settings) -> MediaOrigins:
    """Where browsers send presigned POSTs and fetch signed GETs, for the web client's policy.

    The host is boto3's choice, not a formula (endpoint, path or virtual style, and on AWS with
    the default `auto` style the global ``BUCKET.s3.amazonaws.com`` in every region), so it is
    read off one URL of each kind signed by a store built exactly as ``S3Store.from_settings``
    builds it. Placeholder credentials: an origin never depends on them, and nothing is sent.
    The local store's URLs are on PUBLIC_URL, which the policy already allows as ``'self'``.
    """
    if settings.media_backend != "s3":
        return MediaOrigins()
    placeholder = SecretStr("origin-probe")
    store = S3Store.from_settings(
        settings.model_copy(update={"s3_access_key_id": placeholder, "s3_secret_access_key": placeholder})
    )
    key = "origin/probe"
    post = store._signer.generate_presigned_post(store.bucket, key, ExpiresIn=60)
    get = store._signer.generate_presigned_url("get_object", Params={"Bucket": store.bucket, "Key": key}, ExpiresIn=60)
    return MediaOrigins(upload=_csp_origin(post["url"]), download=_csp_origin(get))


def derive_key(master: bytes, label: str) -> bytes:
    """A key of its own for each use of the server's secret (a URL signature is never a token)."""
    return hmac.new(master, f"tipline:{label}".encode(), hashlib.sha256).digest()


def _now() -> int:
    return int(time.time())
