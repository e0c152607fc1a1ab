"""Finding links in a message and reading a page's Open Graph and HTML meta tags. Pure
functions, no I/O (docs/subsystems/previews.md)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from html.parser import HTMLParser
from urllib.parse import urljoin, urlsplit

# A link as people paste it; angle brackets, quotes and backticks end it (Markdown and HTML
# around a link are not part of it).
URL_RE = re.compile(r"https?://[^\s<>\"'`]+", re.IGNORECASE)
# Punctuation that closes a sentence rather than the link.
TRAILING = ".,;:!?*_~"
MAX_URL_CHARS = 2048
TITLE_CHARS = 300
DESCRIPTION_CHARS = 1000
SITE_CHARS = 100


def extract_urls(body: str, *, limit: int) -> list[str]:
    """The first ``limit`` distinct http(s) links of a message body, in order."""
    found: list[str] = []
    for match in URL_RE.finditer(body):
        url = match.group(0)
        while url and (url[-1] in TRAILING or (url[-1] in ")]}" and _unbalanced(url))):
            url = url[:-1]
        if len(url) > MAX_URL_CHARS or not urlsplit(url).hostname:
            continue
        if url not in found:
            found.append(url)
        if len(found) >= limit:
            break
    return found


def _unbalanced(url: str) -> bool:
    """A closing bracket at the end with no opening one in the link: the text's, not the URL's."""
    close = url[-1]
    opening = {")": "(", "]": "[", "}": "{"}[close]
    return url.count(close) > url.count(opening)


@dataclass(frozen=True)
class PageMeta:
    title: str | None
    description: str | None
    site_name: str | None
    image_url: str | None

    @property
    def empty(self) -> bool:
        return not (self.title or self.description)


class _MetaParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.meta: dict[str, str] = {}
        self.title = ""
        self._in_title = False
        self.done = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.done:
            return
        if tag == "meta":
            values = {k.lower(): (v or "") for k, v in attrs}
            key = (values.get("property") or values.get("name") or "").strip().lower()
            if key and "content" in values and key not in self.meta:
                self.meta[key] = values["content"]
        elif tag == "title":
            self._in_title = True
        elif tag == "body":
            self.done = True  # meta tags live in the head: what follows is the page itself

    def handle_endtag(self, tag: str) -> None:
        if tag == "title":
            self._in_title = False
        elif tag == "head":
            self.done = True

    def handle_data(self, data: str) -> None:
        if self._in_title and not self.done:
            self.title += data


def _clean(value: str | None, limit: int) -> str | None:
    if value is None:
        return None
    text = " ".join(value.split())
    if not text:
        return None
    return text if len(text) <= limit else text[: limit - 1] + "…"


def charset_of(content_type: str, head: bytes) -> str:
    """The page's encoding: the header's, else a <meta charset>, else UTF-8."""
    header = re.search(r"charset=[\"']?([A-Za-z0-9_\-]+)", content_type, re.IGNORECASE)
    if header is not None:
        return header.group(1)
    tag = re.search(rb"<meta[^>]+charset=[\"']?([A-Za-z0-9_\-]+)", head[:4096], re.IGNORECASE)
    return "utf-8" if tag is None else tag.group(1).decode("ascii", "replace")


def parse_meta(html: str, *, base_url: str) -> PageMeta:
    """Open Graph first (``og:*``), then Twitter cards, then the plain ``<title>`` and description."""
    parser = _MetaParser()
    # Fed in pieces so that parsing stops at </head> or <body> instead of reading the page.
    for start in range(0, len(html), 8192):
        parser.feed(html[start : start + 8192])
        if parser.done:
            break
    meta = parser.meta

    def first(*keys: str) -> str | None:
        return next((meta[k] for k in keys if meta.get(k, "").strip()), None)

    image = first("og:image:secure_url", "og:image:url", "og:image", "twitter:image", "twitter:image:src")
    image_url = None
    if image is not None:
        joined = urljoin(base_url, image.strip())
        if urlsplit(joined).scheme in ("http", "https") and len(joined) <= MAX_URL_CHARS:
            image_url = joined
    return PageMeta(
        title=_clean(first("og:title", "twitter:title") or parser.title, TITLE_CHARS),
        description=_clean(first("og:description", "twitter:description", "description"), DESCRIPTION_CHARS),
        site_name=_clean(first("og:site_name", "application-name"), SITE_CHARS),
        image_url=image_url,
    )
