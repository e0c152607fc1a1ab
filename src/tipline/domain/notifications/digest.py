"""The email digest: one mail per person with the DMs and mentions they left unread.
See docs/subsystems/notifications.md."""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any

from tipline.domain.mail.templates import Mail

EXCERPT = 300


def _where(item: Mapping[Any, Any]) -> str:
    if item["kind"] == "direct":
        return f"Direct message from {item['sender_name'] or 'someone'}"
    return f"#{item['conversation_name']}" if item["kind"] in ("public", "private") else str(item["conversation_name"])


def _excerpt(body: str) -> str:
    body = " ".join(body.split())
    return body if len(body) <= EXCERPT else body[: EXCERPT - 1] + "…"


def digest_mail(
    *, to: str, display_name: str, items: Sequence[Mapping[Any, Any]], open_url: str, unsubscribe_url: str
) -> Mail:
    count = len(items)
    subject = (
        f"{items[0]['sender_name'] or 'Someone'} sent you a message on Tipline"
        if count == 1
        else f"{count} unread messages for you on Tipline"
    )
    groups: dict[int, list[Mapping[Any, Any]]] = {}
    for item in items:
        groups.setdefault(item["conversation_id"], []).append(item)
    text_parts = [f"Hello {display_name},\n\nWhile you were away:\n"]
    html_parts = [f"<p>Hello {html.escape(display_name)},</p><p>While you were away:</p>"]
    for group in groups.values():
        text_parts.append(f"\n{_where(group[0])}\n")
        html_parts.append(f"<h3>{html.escape(_where(group[0]))}</h3><ul>")
        for item in group:
            sender = item["sender_name"] or "someone"
            text_parts.append(f"  {sender}: {_excerpt(item['body'])}\n")
            html_parts.append(f"<li><strong>{html.escape(sender)}</strong>: {html.escape(_excerpt(item['body']))}</li>")
        html_parts.append("</ul>")
    text_parts.append(
        f"\nOpen Tipline to reply: {open_url}\n\n"
        "You get this mail because these DMs and mentions were still unread. To stop these mails, open\n"
        f"{unsubscribe_url}\nor change it in Settings.\n"
    )
    html_parts.append(
        f'<p><a href="{html.escape(open_url, quote=True)}">Open Tipline to reply</a></p>'
        '<p style="color: #666; font-size: 12px">You get this mail because these DMs and mentions were still '
        f'unread. <a href="{html.escape(unsubscribe_url, quote=True)}">Stop these mails</a> '
        "or change it in Settings.</p>"
    )
    page = (
        '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">'
        + "".join(html_parts)
        + "</body></html>"
    )
    headers = {
        "List-Unsubscribe": f"<{unsubscribe_url}>",
        "List-Unsubscribe-Post": "List-Unsubscribe=One-Click",
        "Auto-Submitted": "auto-generated",
    }
    return Mail(to=to, subject=subject, text="".join(text_parts), html=page, headers=headers)
