"""Slack-compatible message JSON as the Markdown Tipline shows (docs/subsystems/integrations.md).

``text`` stays as written; each attachment becomes a block under it: its ``pretext``, its
``title`` in bold (a link when ``title_link`` is http(s)), its ``text``, then each field as
``**title**: value``; an attachment with none of those shows its ``fallback``. An override of
the author's name (``username``, when the hook allows it) leads the message in bold, so readers
see both the hook's bot (the author) and the name the tool chose.
"""

from __future__ import annotations

from collections.abc import Sequence

from tipline.domain.integrations.schemas import SlackAttachment


def _slack_links(text: str) -> str:
    out: list[str] = []
    rest = text
    while "<" in rest and ">" in rest[rest.index("<") :]:
        start = rest.index("<")
        end = rest.index(">", start)
        inner = rest[start + 1 : end]
        out.append(rest[:start])
        url, _, label = inner.partition("|")
        if url.startswith(("http://", "https://")):
            out.append(f"[{label or url}]({url})")
        else:
            out.append(rest[start : end + 1])
        rest = rest[end + 1 :]
    out.append(rest)
    return "".join(out)


def _attachment(a: SlackAttachment) -> str:
    parts: list[str] = []
    if a.pretext:
        parts.append(_slack_links(a.pretext))
    if a.title:
        title = f"**{a.title}**"
        if a.title_link.startswith(("http://", "https://")):
            title = f"**[{a.title}]({a.title_link})**"
        parts.append(title)
    if a.text:
        parts.append(_slack_links(a.text))
    parts.extend(f"**{f.title}**: {_slack_links(f.value)}" if f.title else _slack_links(f.value) for f in a.fields)
    if not parts and a.fallback:
        parts.append(_slack_links(a.fallback))
    return "\n".join(parts)


def render(text: str, attachments: Sequence[SlackAttachment] = (), *, username: str | None = None) -> str:
    blocks = [_slack_links(text)] if text.strip() else []
    blocks += [b for b in (_attachment(a) for a in attachments) if b]
    body = "\n\n".join(blocks)
    if username and username.strip() and body:
        body = f"**{username.strip()}**: {body}"
    return body
