"""Finding links in a message and reading a page's metadata (docs/subsystems/previews.md)."""

from __future__ import annotations

from tipline.domain.previews.parse import charset_of, extract_urls, parse_meta


def test_links_are_found_in_order_without_the_sentence_around_them() -> None:
    body = (
        "see https://a.example/x. and (https://b.example/y) or <https://c.example/z>, "
        "https://a.example/x again, https://en.wikipedia.org/wiki/Foo_(bar) ftp://no.example "
        "`http://d.example/code`"
    )
    assert extract_urls(body, limit=10) == [
        "https://a.example/x",
        "https://b.example/y",
        "https://c.example/z",
        "https://en.wikipedia.org/wiki/Foo_(bar)",
        "http://d.example/code",
    ]
    assert extract_urls(body, limit=2) == ["https://a.example/x", "https://b.example/y"]
    assert extract_urls("no links here, just http:// and https:///", limit=3) == []


def test_open_graph_wins_then_twitter_then_plain_html() -> None:
    html = """<html><head><title> Plain  title </title>
      <meta name="description" content="plain description">
      <meta name="twitter:title" content="Twitter title">
      <meta property="og:title" content="OG &amp; title">
      <meta property="og:site_name" content="Site">
      <meta property="og:image" content="/img/cover.png">
      </head><body><meta property="og:description" content="in the body: ignored"></body></html>"""
    meta = parse_meta(html, base_url="https://example.com/post/1")
    assert meta.title == "OG & title"
    assert meta.description == "plain description"
    assert meta.site_name == "Site"
    assert meta.image_url == "https://example.com/img/cover.png"

    plain = parse_meta("<title>Only a title</title>", base_url="https://example.com/")
    assert (plain.title, plain.description, plain.image_url) == ("Only a title", None, None)
    assert parse_meta("<p>nothing</p>", base_url="https://example.com/").empty


def test_unsafe_image_urls_and_long_text() -> None:
    html = f'<meta property="og:image" content="javascript:alert(1)"><meta property="og:title" content="{"x" * 500}">'
    meta = parse_meta(html, base_url="https://example.com/")
    assert meta.image_url is None
    assert meta.title is not None and len(meta.title) == 300 and meta.title.endswith("…")


def test_charset() -> None:
    assert charset_of("text/html; charset=ISO-8859-1", b"") == "ISO-8859-1"
    assert charset_of("text/html", b'<meta charset="windows-1252">') == "windows-1252"
    assert charset_of("text/html", b"<html>") == "utf-8"
