"""The mails Tipline sends, each as plain text and HTML from one small template.

Values are escaped for the HTML body (``html.escape``); the text body takes them as they are.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str


_HTML_PAGE = Template(
    '<!doctype html><html><body style="font-family: sans-serif; line-height: 1.5">$body'
    '<p style="color: #666; font-size: 12px">Tipline</p></body></html>'
)


@dataclass(frozen=True)
class _Template:
    subject: str
    text: Template
    html: Template

    def render(self, to: str, **values: str) -> Mail:
        escaped = {k: html.escape(v, quote=True) for k, v in values.items()}
        return Mail(
            to=to,
            subject=Template(self.subject).substitute(values),
            text=self.text.substitute(values),
            html=_HTML_PAGE.substitute(body=self.html.substitute(escaped)),
        )


VERIFY_EMAIL = _Template(
    subject="Confirm your email address for Tipline",
    text=Template(
        "Hello $display_name,\n\n"
        "Someone (we hope you) created a Tipline account @$handle with this email address.\n"
        "To confirm it and sign in, open this link within $valid_for:\n\n"
        "$link\n\n"
        "The link works once. If you did not sign up, ignore this mail: the account stays unusable.\n"
    ),
    html=Template(
        "<p>Hello $display_name,</p>"
        "<p>Someone (we hope you) created a Tipline account <strong>@$handle</strong> with this email address. "
        "To confirm it and sign in, open this link within $valid_for:</p>"
        '<p><a href="$link">Confirm my email address</a></p>'
        "<p>The link works once. If you did not sign up, ignore this mail: the account stays unusable.</p>"
    ),
)

ALREADY_REGISTERED = _Template(
    subject="Someone tried to sign up to Tipline with your email address",
    text=Template(
        "Hello,\n\n"
        "Someone tried to create a Tipline account with this email address, which already has one.\n"
        "Nothing was changed. If it was you, sign in here:\n\n"
        "$link\n\n"
        "If you forgot your password, the sign-in page is where to start. If it was not you, ignore this mail.\n"
    ),
    html=Template(
        "<p>Hello,</p>"
        "<p>Someone tried to create a Tipline account with this email address, which already has one. "
        "Nothing was changed. If it was you, sign in here:</p>"
        '<p><a href="$link">Sign in to Tipline</a></p>'
        "<p>If you forgot your password, the sign-in page is where to start. "
        "If it was not you, ignore this mail.</p>"
    ),
)


def verify_email(*, to: str, display_name: str, handle: str, link: str, ttl_s: int) -> Mail:
    valid_for = f"{ttl_s // 3600} hours" if ttl_s >= 7200 else f"{ttl_s // 60} minutes"
    return VERIFY_EMAIL.render(to, display_name=display_name, handle=handle, link=link, valid_for=valid_for)


def already_registered(*, to: str, link: str) -> Mail:
    return ALREADY_REGISTERED.render(to, link=link)
