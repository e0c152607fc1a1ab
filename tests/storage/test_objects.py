"""The object stores directly: the local store's signatures, and S3Store against a real S3-compatible server."""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import orjson
import pytest

from tests.conftest import MotoS3, make_settings
from tipline.storage.objects import Delivery, LocalDiskStore, ObjectStore, S3Store, check_key

KEY = f"att/1/{uuid.uuid4().hex}"


@pytest.fixture(params=["local", "s3"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> ObjectStore:
    if request.param == "local":
        return LocalDiskStore(tmp_path, signing_key=b"k" * 32, public_url="http://127.0.0.1:1")
    moto: MotoS3 = request.getfixturevalue("moto_s3")
    settings = make_settings(**moto.settings())
    return S3Store.from_settings(settings)


async def test_put_head_read_delete(store: ObjectStore) -> None:
    assert await store.head(KEY) is None
    await store.put(KEY, b"0123456789", content_type="text/plain")
    info = await store.head(KEY)
    assert info is not None and info.size == 10
    assert await store.read(KEY) == b"0123456789"
    assert await store.read(KEY, limit=4) == b"0123"
    await store.delete([KEY, f"att/1/{uuid.uuid4().hex}"])  # a missing key is no error
    assert await store.head(KEY) is None


async def test_copy_is_the_object_as_it_was(store: ObjectStore) -> None:
    """What completing an upload relies on: a copy that later writes to the source never reach."""
    copy = f"{KEY}.{uuid.uuid4().hex}"
    assert await store.copy(KEY, copy) is False  # nothing to copy yet
    await store.put(KEY, b"checked bytes", content_type="text/plain")
    assert await store.copy(KEY, copy) is True
    await store.put(KEY, b"other bytes!!", content_type="text/plain")
    assert await store.read(copy) == b"checked bytes"
    await store.delete([KEY])
    assert await store.read(copy) == b"checked bytes"
    await store.delete([copy])
    assert await store.head(copy) is None


async def test_local_copy_without_hard_links(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Some file systems have no hard links: the local store then copies the bytes."""
    import os

    store = LocalDiskStore(tmp_path, signing_key=b"k" * 32, public_url="http://127.0.0.1:1")

    def no_links(src: object, dst: object) -> None:
        raise PermissionError("hard links are not supported here")

    monkeypatch.setattr(os, "link", no_links)
    copy = f"{KEY}.{uuid.uuid4().hex}"
    assert await store.copy(KEY, copy) is False
    await store.put(KEY, b"checked bytes", content_type="text/plain")
    assert await store.copy(KEY, copy) is True
    await store.put(KEY, b"other bytes!!", content_type="text/plain")
    assert await store.read(copy) == b"checked bytes"
    assert not [p for p in store.path(copy).parent.iterdir() if p.name.endswith(".tmp")]


async def test_presigned_post_pins_size_and_type(store: ObjectStore) -> None:
    post = await store.presign_post(KEY, content_type="image/png", size=1234, expires_s=60)
    assert post.fields["Content-Type"] == "image/png"
    if isinstance(store, S3Store):
        # moto does not enforce the policy, so check what S3 itself would be told to enforce.
        policy = orjson.loads(base64.b64decode(post.fields["policy"]))
        assert ["content-length-range", 1234, 1234] in policy["conditions"]
        assert {"Content-Type": "image/png"} in policy["conditions"]
        assert {"bucket": store.bucket} in policy["conditions"] and {"key": KEY} in policy["conditions"]
    else:
        assert isinstance(store, LocalDiskStore)
        policy = store.verify_policy(post.fields["policy"], post.fields["signature"])
        assert policy is not None
        assert (policy["key"], policy["size"], policy["content_type"]) == (KEY, 1234, "image/png")


async def test_presigned_get_carries_expiry_and_headers(store: ObjectStore) -> None:
    await store.put(KEY, b"<b>x</b>", content_type="text/html")
    delivery = Delivery("application/octet-stream", "naïve page.html", inline=False)
    url = await store.presign_get(KEY, delivery=delivery, expires_s=42)
    query = {k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
    if isinstance(store, S3Store):
        assert query["X-Amz-Expires"] == "42"
        async with httpx.AsyncClient(timeout=30) as client:
            got = await client.get(url)
        assert got.status_code == 200 and got.content == b"<b>x</b>"
        assert got.headers["content-type"] == "application/octet-stream"
        assert got.headers["content-disposition"] == delivery.disposition()
    else:
        assert isinstance(store, LocalDiskStore)
        assert abs(int(query["exp"]) - (int(time.time()) + 42)) <= 2
        assert store.verify_get(KEY, query) == delivery
        assert store.verify_get(KEY, query, now=int(query["exp"]) + 1) is None
        assert store.verify_get(KEY, {**query, "sig": "0" * 64}) is None
        other = LocalDiskStore(Path("/nonexistent"), signing_key=b"x" * 32, public_url="http://127.0.0.1:1")
        assert other.verify_get(KEY, query) is None


def test_disposition_is_safe_for_any_name() -> None:
    d = Delivery("application/octet-stream", 'a"b\\c\r\n ü.html', inline=False).disposition()
    assert d.startswith('attachment; filename="a_b_c') and "\r" not in d and "\n" not in d.split("filename*=")[1]
    assert "filename*=UTF-8''a%22b%5Cc%0D%0A%20%C3%BC.html" in d


@pytest.mark.parametrize("key", ["../etc/passwd", "att/../../x", "/abs/path", "att/1/a b", "att//x", "Att/1/x"])
def test_keys_cannot_escape_the_store(key: str) -> None:
    with pytest.raises(ValueError):
        check_key(key)


async def test_s3_urls_are_signed_for_the_public_endpoint(moto_s3: MotoS3) -> None:
    """Tipline talks to the store at one address (a compose service name) and hands browsers
    URLs for another; both must lead to the same objects."""
    public = moto_s3.endpoint_url.replace("127.0.0.1", "localhost")
    store = S3Store.from_settings(make_settings(**moto_s3.settings(), s3_public_endpoint_url=public))
    key = f"att/1/{uuid.uuid4().hex}"
    post = await store.presign_post(key, content_type="text/plain", size=5, expires_s=60)
    assert post.url.startswith(public)
    async with httpx.AsyncClient(timeout=10) as client:
        sent = await client.post(post.url, data=post.fields, files={"file": ("a.txt", b"hello", "text/plain")})
        assert sent.status_code in (200, 201, 204), sent.text
        assert await store.read(key) == b"hello"  # what the browser put is what Tipline reads
        url = await store.presign_get(key, delivery=Delivery("text/plain", "a.txt", inline=False), expires_s=60)
        assert url.startswith(public)
        assert (await client.get(url)).content == b"hello"
