"""Imports every domain's tables so the shared MetaData is complete (for Alembic and tests)."""

from tipline.domain.accounts.models import (
    account_tokens,
    auth_challenges,
    email_verifications,
    oidc_handoffs,
    oidc_identities,
    oidc_login_states,
    passkeys,
    recovery_codes,
    refresh_tokens,
    sessions,
    totp_secrets,
    users,
)
from tipline.domain.conversations.models import conversation_events, conversations, members
from tipline.domain.imports.models import import_map
from tipline.domain.mail.models import mail_outbox
from tipline.domain.media.models import avatars, uploads
from tipline.domain.messages.models import messages, reactions
from tipline.domain.moderation.models import blocks, reports
from tipline.domain.tips.models import tip_intents
from tipline.domain.tokens.models import api_tokens
from tipline.domain.wallets.models import siwe_nonces, wallets

__all__ = [
    "account_tokens",
    "api_tokens",
    "auth_challenges",
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
    "passkeys",
    "reactions",
    "recovery_codes",
    "refresh_tokens",
    "reports",
    "sessions",
    "siwe_nonces",
    "tip_intents",
    "totp_secrets",
    "uploads",
    "users",
    "wallets",
]
