"""Imports every domain's tables so the shared MetaData is complete (for Alembic and tests)."""

from tipline.domain.accounts.models import (
    account_tokens,
    email_verifications,
    oidc_handoffs,
    oidc_identities,
    oidc_login_states,
    refresh_tokens,
    sessions,
    users,
)
from tipline.domain.conversations.models import conversation_events, conversations, members
from tipline.domain.imports.models import import_map
from tipline.domain.mail.models import mail_outbox
from tipline.domain.media.models import avatars, uploads
from tipline.domain.messages.models import messages, reactions
from tipline.domain.moderation.models import blocks, reports
from tipline.domain.tips.models import tip_intents
from tipline.domain.wallets.models import siwe_nonces, wallets

__all__ = [
    "account_tokens",
    "avatars",
    "blocks",
    "conversation_events",
    "conversations",
    "email_verifications",
    "import_map",
    "mail_outbox",
    "members",
    "messages",
    "oidc_handoffs",
    "oidc_identities",
    "oidc_login_states",
    "reactions",
    "refresh_tokens",
    "reports",
    "sessions",
    "siwe_nonces",
    "tip_intents",
    "uploads",
    "users",
    "wallets",
]
