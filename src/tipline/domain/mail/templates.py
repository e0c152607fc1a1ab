"""The mails Tipline sends, each as plain text and HTML from one small template.

Values are escaped for the HTML body (``html.escape``); the text body takes them as they are.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from string import Template
from typing import Any


@dataclass(frozen=True)
class Mail:
    to: str
    subject: str
    text: str
    html: str
    headers: Any = None  # dict[str, str] of extra headers, or None


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


# --- password reset and email change (docs/subsystems/accounts.md) -------------------------------

PASSWORD_RESET = _Template(
    subject="Reset your Tipline password",
    text=Template(
        "Hello $display_name,\n\n"
        "Someone (we hope you) asked to reset the password of the Tipline account @$handle.\n"
        "To choose a new password, open this link within $valid_for:\n\n"
        "$link\n\n"
        "The link works once, and using it signs your account out everywhere else.\n"
        "If you did not ask for this, ignore this mail: your password stays as it is.\n"
    ),
    html=Template(
        "<p>Hello $display_name,</p>"
        "<p>Someone (we hope you) asked to reset the password of the Tipline account <strong>@$handle</strong>. "
        "To choose a new password, open this link within $valid_for:</p>"
        '<p><a href="$link">Choose a new password</a></p>'
        "<p>The link works once, and using it signs your account out everywhere else. "
        "If you did not ask for this, ignore this mail: your password stays as it is.</p>"
    ),
)

RESET_NO_ACCOUNT = _Template(
    subject="Your Tipline password reset request",
    text=Template(
        "Hello,\n\n"
        "Someone asked to reset the password of a Tipline account with this email address, but no active\n"
        "account uses it, so nothing was changed. If it was you, you may have signed up with another\n"
        "address; or create an account here:\n\n"
        "$link\n\n"
        "If it was not you, ignore this mail.\n"
    ),
    html=Template(
        "<p>Hello,</p>"
        "<p>Someone asked to reset the password of a Tipline account with this email address, but no active "
        "account uses it, so nothing was changed. If it was you, you may have signed up with another address; "
        "or create an account here:</p>"
        '<p><a href="$link">Create a Tipline account</a></p>'
        "<p>If it was not you, ignore this mail.</p>"
    ),
)

PASSWORD_CHANGED = _Template(
    subject="Your Tipline password was changed",
    text=Template(
        "Hello $display_name,\n\n"
        "The password of the Tipline account @$handle was just reset with a link mailed to this address,\n"
        "and every session of the account was signed out.\n\n"
        "If that was not you, reset it again now from the sign-in page:\n\n"
        "$link\n"
    ),
    html=Template(
        "<p>Hello $display_name,</p>"
        "<p>The password of the Tipline account <strong>@$handle</strong> was just reset with a link mailed to "
        "this address, and every session of the account was signed out.</p>"
        '<p>If that was not you, <a href="$link">reset it again now</a>.</p>'
    ),
)

EMAIL_CHANGE_CONFIRM = _Template(
    subject="Confirm your new email address for Tipline",
    text=Template(
        "Hello $display_name,\n\n"
        "The Tipline account @$handle asked to use this email address from now on.\n"
        "To confirm it, open this link within $valid_for:\n\n"
        "$link\n\n"
        "The link works once. If you did not ask for this, ignore this mail: nothing changes.\n"
    ),
    html=Template(
        "<p>Hello $display_name,</p>"
        "<p>The Tipline account <strong>@$handle</strong> asked to use this email address from now on. "
        "To confirm it, open this link within $valid_for:</p>"
        '<p><a href="$link">Confirm my new email address</a></p>'
        "<p>The link works once. If you did not ask for this, ignore this mail: nothing changes.</p>"
    ),
)

EMAIL_CHANGE_TAKEN = _Template(
    subject="Someone tried to move a Tipline account to your email address",
    text=Template(
        "Hello,\n\n"
        "A Tipline account asked to use this email address, which already has an account of its own.\n"
        "Nothing was changed. If it was you, sign in to that account here (or reset its password from there):\n\n"
        "$link\n\n"
        "If it was not you, ignore this mail.\n"
    ),
    html=Template(
        "<p>Hello,</p>"
        "<p>A Tipline account asked to use this email address, which already has an account of its own. "
        "Nothing was changed. If it was you, sign in to that account here (or reset its password from there):</p>"
        '<p><a href="$link">Sign in to Tipline</a></p>'
        "<p>If it was not you, ignore this mail.</p>"
    ),
)

EMAIL_CHANGE_NOTICE = _Template(
    subject="Your Tipline email address is about to change",
    text=Template(
        "Hello $display_name,\n\n"
        "The Tipline account @$handle asked to move from this email address to $new_email.\n"
        "It changes only once a link mailed to $new_email is followed.\n\n"
        "If that was not you, someone knows your password: reset it now, which also cancels the change\n"
        "and signs out every session:\n\n"
        "$link\n"
    ),
    html=Template(
        "<p>Hello $display_name,</p>"
        "<p>The Tipline account <strong>@$handle</strong> asked to move from this email address to "
        "<strong>$new_email</strong>. It changes only once a link mailed to $new_email is followed.</p>"
        "<p>If that was not you, someone knows your password: "
        '<a href="$link">reset it now</a>, which also cancels the change and signs out every session.</p>'
    ),
)


def _valid_for(ttl_s: int) -> str:
    return f"{ttl_s // 3600} hours" if ttl_s >= 7200 else f"{ttl_s // 60} minutes"


def password_reset(*, to: str, display_name: str, handle: str, link: str, ttl_s: int) -> Mail:
    return PASSWORD_RESET.render(to, display_name=display_name, handle=handle, link=link, valid_for=_valid_for(ttl_s))


def reset_no_account(*, to: str, link: str) -> Mail:
    return RESET_NO_ACCOUNT.render(to, link=link)


def password_changed(*, to: str, display_name: str, handle: str, link: str) -> Mail:
    return PASSWORD_CHANGED.render(to, display_name=display_name, handle=handle, link=link)


def email_change_confirm(*, to: str, display_name: str, handle: str, link: str, ttl_s: int) -> Mail:
    return EMAIL_CHANGE_CONFIRM.render(
        to, display_name=display_name, handle=handle, link=link, valid_for=_valid_for(ttl_s)
    )


def email_change_taken(*, to: str, link: str) -> Mail:
    return EMAIL_CHANGE_TAKEN.render(to, link=link)


def email_change_notice(*, to: str, display_name: str, handle: str, new_email: str, link: str) -> Mail:
    return EMAIL_CHANGE_NOTICE.render(to, display_name=display_name, handle=handle, new_email=new_email, link=link)
