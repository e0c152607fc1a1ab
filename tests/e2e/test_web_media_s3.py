"""Attachments in the web client with MEDIA_BACKEND=s3: Chromium against a real Tipline whose media
live in moto (server mode), its bucket configured the way docs/subsystems/media.md tells an
operator to.

The browser uploads straight to the bucket and loads thumbnails, images and audio from it, so
the page's Content-Security-Policy must name the bucket's origin (tipline.web, the origin from
tipline.storage.objects.media_origins); a CSP violation is a console error, which fails the test.
The unit tests pin the policy for the AWS and the custom-endpoint forms, and check it against
the URLs the store really signs.
"""

from __future__ import annotations

import base64
import io
import json
import math
import re
import struct
import sys
import uuid
import wave
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
import httpx
import pytest
from playwright.async_api import Browser, Request, expect

from tests.conftest import MotoS3
from tests.e2e.conftest import E2EServer, People, people_of
from tests.e2e.test_web_client import pair_in_dm
from tests.e2e.test_web_media import DROP, LOADED
from tests.media_support import image_bytes
from tests.nodes import node_process
from tipline.app import build_runtime, create_app
from tipline.config import Settings
from tipline.storage.objects import Delivery, MediaOrigins, S3Store, media_origins
from tipline.web import content_security_policy

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

MEDIA_DOC = Path(__file__).resolve().parents[2] / "docs" / "subsystems" / "media.md"
DOC_ORIGIN = "https://chat.example.com"  # the placeholder the doc's CORS rule uses for PUBLIC_URL

# The audio element has loaded its (signed) source and is playing it.
PLAYING = """(selector) => {
  const a = document.querySelector(selector);
  return a !== null && a.error === null && !a.paused && a.currentTime > 0.1;
}"""


def documented_cors(origin: str) -> dict[str, Any]:
    """The bucket CORS configuration docs/subsystems/media.md gives, for a Tipline at ``origin``."""
    blocks = [b for b in re.findall(r"```json\n(.*?)```", MEDIA_DOC.read_text(), re.S) if "CORSRules" in b]
    assert len(blocks) == 1, "docs/subsystems/media.md gives one CORS configuration"
    assert DOC_ORIGIN in blocks[0]
    config: dict[str, Any] = json.loads(blocks[0].replace(DOC_ORIGIN, origin))
    return config


def tone_wav(seconds: float = 2.0, rate: int = 8000) -> bytes:
    """A real, playable WAV file: a 440 Hz tone."""
    samples = (int(8000 * math.sin(2 * math.pi * 440 * i / rate)) for i in range(int(seconds * rate)))
    out = io.BytesIO()
    with wave.open(out, "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(b"".join(struct.pack("<h", s) for s in samples))
    return out.getvalue()


# --- the browser, against moto --------------------------------------------------------------------


@dataclass
class S3Site:
    server: E2EServer
    s3: S3Client
    public_origin: str  # where browsers reach it (S3_PUBLIC_ENDPOINT_URL)
    bucket: str


@pytest.fixture(scope="module")
async def s3_site(web_dist: Path, moto_s3: MotoS3, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[S3Site]:
    s3: S3Client = boto3.client(
        "s3",
        endpoint_url=moto_s3.endpoint_url,
        region_name="us-east-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    bucket = f"tipline-e2e-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    # Browsers reach the store by another name than Tipline does, as with a compose service:
    # the policy must name the public one.
    public = moto_s3.endpoint_url.replace("//127.0.0.1:", "//localhost:")
    env = {name.upper(): str(value) for name, value in moto_s3.settings().items()}
    env |= {"S3_BUCKET": bucket, "S3_PUBLIC_ENDPOINT_URL": public}
    log = tmp_path_factory.mktemp("e2e-s3") / "server.log"
    command = [sys.executable, str(Path(__file__).with_name("launcher.py"))]
    try:
        async with node_process(command, log, prefix="e2es3", WEB_DIST=str(web_dist), **env) as node:
            s3.put_bucket_cors(Bucket=bucket, CORSConfiguration=documented_cors(node.base_url))  # type: ignore[arg-type]
            server = E2EServer(base_url=node.base_url, database_url=node.database_url, log=log)
            yield S3Site(server, s3, public, bucket)
    finally:
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        if keys:
            s3.delete_objects(Bucket=bucket, Delete={"Objects": [{"Key": k} for k in keys]})
        s3.delete_bucket(Bucket=bucket)


@pytest.fixture
async def s3_people(browser: Browser, s3_site: S3Site) -> AsyncIterator[People]:
    async with people_of(browser, s3_site.server) as make:
        yield make


async def test_upload_thumbnail_full_image_and_audio_through_s3(
    s3_people: People, s3_site: S3Site, artifacts: Path, tmp_path: Path
) -> None:
    origin = s3_site.public_origin
    # moto answers CORS for any origin on a bucket without a rule (S3 does not), so first make
    # sure the documented rule is what answers: the page's origin gets it, another one a 403.
    async with httpx.AsyncClient(timeout=10) as http:
        bucket_url = f"{origin}/{s3_site.bucket}"
        ask = {"Access-Control-Request-Method": "POST"}
        mine = await http.options(bucket_url, headers={"Origin": s3_site.server.base_url, **ask})
        assert mine.status_code == 200
        assert mine.headers["access-control-allow-origin"] == s3_site.server.base_url
        assert mine.headers["access-control-max-age"] == "3000"
        other = await http.options(bucket_url, headers={"Origin": "https://elsewhere.test", **ask})
        assert other.status_code == 403

    ann, bob = await pair_in_dm(s3_people)
    posts: list[str] = []

    def on_request(request: Request) -> None:
        if request.method == "POST" and request.url.startswith(origin + "/"):
            posts.append(request.url)

    ann.page.on("request", on_request)
    png = image_bytes("PNG", (640, 480))
    await ann.page.evaluate(
        DROP, ['[data-testid="drop-zone"]', "sunset.png", "image/png", base64.b64encode(png).decode()]
    )
    tone = tmp_path / "tone.wav"
    tone.write_bytes(tone_wav())
    await ann.page.get_by_test_id("attach-input").set_input_files(str(tone))
    items = ann.page.get_by_test_id("upload-item")
    await expect(items).to_have_count(2)
    for name in ("sunset.png", "tone.wav"):
        await expect(ann.page.get_by_label(f"Uploading {name}")).to_have_attribute("aria-valuetext", "uploaded")
    assert len(posts) == 2, posts  # straight to the bucket, by its public name
    await ann.page.get_by_test_id("send").click()
    await expect(items).to_have_count(0)
    # Both files, the re-encoded image and its thumbnail are in the bucket.
    assert len(s3_site.s3.list_objects_v2(Bucket=s3_site.bucket).get("Contents", [])) >= 3

    # The receiver's thumbnail and full image load from the bucket.
    preview = bob.page.get_by_alt_text("sunset.png")
    await expect(preview).to_be_visible(timeout=10_000)
    assert (await preview.get_attribute("src") or "").startswith(origin + "/")
    await bob.page.wait_for_function(LOADED, arg=['img[alt="sunset.png"]', 320])
    await bob.page.get_by_label("Open image sunset.png").click()
    dialog = bob.page.get_by_role("dialog")
    await expect(dialog).to_be_visible()
    assert (await dialog.locator("img").get_attribute("src") or "").startswith(origin + "/")
    await bob.page.wait_for_function(LOADED, arg=["[role=dialog] img", 640])
    await bob.page.keyboard.press("Escape")
    await expect(dialog).to_have_count(0)

    # The audio plays from the bucket (muted: headless Chromium allows muted playback without a gesture).
    audio = bob.page.get_by_label("Audio: tone.wav")
    await expect(audio).to_have_attribute("src", re.compile("^" + re.escape(origin + "/")))
    await audio.evaluate("(a) => { a.muted = true; return a.play(); }")
    await bob.page.wait_for_function(PLAYING, arg='audio[aria-label="Audio: tone.wav"]')
    await bob.page.screenshot(path=artifacts / "desktop-attachments-received-s3.png")


# --- the policy, for each way the store can be addressed ------------------------------------------


def s3_settings(**overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "database_url": None,
        "jwt_secret": None,
        "media_backend": "s3",
        "s3_bucket": "tipline-media",
        "s3_access_key_id": "AKIDEXAMPLE",
        "s3_secret_access_key": "not-a-secret",
        "web_dist": Path("/nonexistent/tipline-dist"),
    }
    return Settings(_env_file=None, **(values | overrides))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


async def signed_origins(settings: Settings) -> MediaOrigins:
    """The origins of the URLs Tipline's store really hands a browser with these settings."""
    store = S3Store.from_settings(settings)
    key = "attachments/1/probe"
    post = await store.presign_post(key, content_type="image/png", size=10, expires_s=60)
    get = await store.presign_get(key, delivery=Delivery("image/png", "a.png", inline=True), expires_s=60)
    return MediaOrigins(upload=_origin(post.url), download=_origin(get))


def directives(policy: str) -> dict[str, list[str]]:
    parsed: dict[str, list[str]] = {}
    for directive in policy.split(";"):
        name, *sources = directive.split()
        parsed[name] = sources
    return parsed


AWS_CDK = {"s3_region": "us-east-1"}  # what the AWS stack sets: S3_BUCKET and S3_REGION only


@pytest.mark.parametrize(
    ("overrides", "expected"),
    [
        # AWS, default `auto` style: boto3 signs for the global name, in us-east-1 and elsewhere.
        (AWS_CDK, "https://tipline-media.s3.amazonaws.com"),
        ({"s3_region": "eu-west-1"}, "https://tipline-media.s3.amazonaws.com"),
        # AWS, virtual style: the bucket's regional host.
        (
            {"s3_region": "eu-west-1", "s3_addressing_style": "virtual"},
            "https://tipline-media.s3.eu-west-1.amazonaws.com",
        ),
        # A custom endpoint, browsers reaching it by another name than Tipline.
        (
            {
                "s3_endpoint_url": "http://minio:9000",
                "s3_public_endpoint_url": "https://media.example.com:8443",
                "s3_addressing_style": "path",
            },
            "https://media.example.com:8443",
        ),
        ({"s3_endpoint_url": "http://127.0.0.1:9000", "s3_addressing_style": "path"}, "http://127.0.0.1:9000"),
        (
            {"s3_endpoint_url": "https://s3.example.com", "s3_addressing_style": "virtual"},
            "https://tipline-media.s3.example.com",
        ),
    ],
)
async def test_the_policy_names_the_exact_bucket_origin_where_the_browser_needs_it(
    overrides: dict[str, Any], expected: str
) -> None:
    settings = s3_settings(**overrides)
    origins = media_origins(settings)
    assert origins == MediaOrigins(upload=expected, download=expected)
    assert origins == await signed_origins(settings)
    policy = directives(content_security_policy("chat.test", media=origins))
    assert policy["connect-src"] == ["'self'", "ws://chat.test", "wss://chat.test", expected]
    assert policy["img-src"] == ["'self'", "data:", "blob:", expected]
    assert policy["media-src"] == ["'self'", expected]
    for name, sources in policy.items():
        assert not any("*" in s for s in sources), name
        if name not in ("connect-src", "img-src", "media-src"):
            assert expected not in sources, name
    assert "minio" not in str(policy)  # Tipline's own name for the store never reaches the page


async def test_the_served_page_carries_the_s3_policy_and_the_local_store_adds_nothing(tmp_path: Path) -> None:
    (tmp_path / "index.html").write_text("<!doctype html><title>Tipline</title>")
    for settings, bucket_origin in (
        (s3_settings(web_dist=tmp_path, **AWS_CDK), "https://tipline-media.s3.amazonaws.com"),
        (s3_settings(web_dist=tmp_path, media_backend="local"), None),
    ):
        rt = build_runtime(settings, database_url="postgresql://localhost/unused", jwt_key=b"k" * 32)
        app = create_app(rt)
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(timeout=30, transport=transport, base_url="http://chat.test") as http:
            r = await http.get("/c/12")
        policy = r.headers["content-security-policy"]
        assert policy == content_security_policy("chat.test", media=media_origins(settings))
        if bucket_origin is None:
            assert media_origins(settings) == MediaOrigins()
            assert "img-src 'self' data: blob:;" in policy and "media-src 'self';" in policy
            assert "connect-src 'self' ws://chat.test wss://chat.test;" in policy
        else:
            assert f"connect-src 'self' ws://chat.test wss://chat.test {bucket_origin};" in policy
            assert f"img-src 'self' data: blob: {bucket_origin};" in policy
            assert f"media-src 'self' {bucket_origin};" in policy
