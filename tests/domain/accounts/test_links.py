"""Password reset and email change links: the mails that carry them, and the per-address limit key."""

from __future__ import annotations

from tipline.domain.accounts.actions import address_key
from tipline.domain.mail import templates

LINK = "https://chat.example.com/reset#token=abc_DEF-123"


def test_every_spelling_of_one_mailbox_counts_against_one_limit() -> None:
    spellings = ["owner@example.com", "OWNER@Example.COM", "  Owner@example.com  "]
    assert {address_key(s) for s in spellings} == {"owner@example.com"}
    # Text that is no address still gets a stable key (and the same 202, with no mail).
    assert address_key(" Not An Address ") == "not an address"


def test_the_reset_mail_carries_the_link_and_escapes_the_name() -> None:
    mail = templates.password_reset(
        to="owner@example.com", display_name="<b>Owner</b>", handle="owner", link=LINK, ttl_s=3600
    )
    assert mail.subject == "Reset your Tipline password"
    assert LINK in mail.text and "<b>Owner</b>" in mail.text and "60 minutes" in mail.text
    assert f'href="{LINK}"' in mail.html
    assert "&lt;b&gt;Owner&lt;/b&gt;" in mail.html and "<b>Owner</b>" not in mail.html


def test_mails_without_a_link_carry_no_token() -> None:
    for mail in (
        templates.reset_no_account(to="x@example.com", link="https://chat.example.com/signup"),
        templates.email_change_taken(to="x@example.com", link="https://chat.example.com/signin"),
        templates.email_change_notice(
            to="x@example.com",
            display_name="X",
            handle="x",
            new_email="new@example.org",
            link="https://chat.example.com/forgot",
        ),
        templates.password_changed(
            to="x@example.com", display_name="X", handle="x", link="https://chat.example.com/forgot"
        ),
    ):
        assert "token" not in mail.text and "token" not in mail.html


def test_the_confirmation_mail_names_the_account_and_its_lifetime() -> None:
    link = "https://chat.example.com/email/confirm#token=xyz"
    mail = templates.email_change_confirm(
        to="new@example.org", display_name="Owner", handle="owner", link=link, ttl_s=86400
    )
    assert "@owner" in mail.text and "24 hours" in mail.text and link in mail.text
