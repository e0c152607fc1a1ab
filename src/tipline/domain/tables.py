"""Imports every domain's tables so the shared MetaData is complete (for Alembic and tests)."""

from tipline.domain.accounts.models import (
    account_tokens,
    address_requests,
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
from tipline.domain.admin.models import audit_log
from tipline.domain.conversations.models import conversation_events, conversations, members
from tipline.domain.imports.models import import_map, import_runs
from tipline.domain.integrations.models import incoming_webhooks, outgoing_webhooks, slash_commands, webhook_deliveries
from tipline.domain.mail.models import mail_outbox
from tipline.domain.media.models import avatars, uploads
from tipline.domain.messages.models import messages, reactions
from tipline.domain.moderation.models import blocks, reports
from tipline.domain.notifications.models import (
    notify_cursor,
    notify_email_pending,
    notify_levels,
    notify_settings,
    push_outbox,
    push_subscriptions,
)
from tipline.domain.previews.models import link_preview_jobs, link_previews
from tipline.domain.privacy.models import data_exports
from tipline.domain.serversettings.models import custom_emoji, invites, server_settings
from tipline.domain.threads.models import thread_follows, threads
from tipline.domain.timeline.models import message_revisions, pins, read_receipts_off
from tipline.domain.tips.models import tip_intents
from tipline.domain.tokens.models import api_tokens
from tipline.domain.wallets.models import siwe_nonces, wallets

__all__ = [
    "account_tokens",
    "address_requests",
    "api_tokens",
    "audit_log",
    "auth_challenges",
    "avatars",
    "blocks",
    "conversation_events",
    "conversations",
    "custom_emoji",
    "data_exports",
    "email_verifications",
    "import_map",
    "import_runs",
    "incoming_webhooks",
    "invites",
    "link_preview_jobs",
    "link_previews",
    "mail_outbox",
    "members",
    "message_revisions",
    "messages",
    "notify_cursor",
    "notify_email_pending",
    "notify_levels",
    "notify_settings",
    "oidc_handoffs",
    "oidc_identities",
    "oidc_login_states",
    "outgoing_webhooks",
    "passkeys",
    "pins",
    "push_outbox",
    "push_subscriptions",
    "reactions",
    "read_receipts_off",
    "recovery_codes",
    "refresh_tokens",
    "reports",
    "server_settings",
    "sessions",
    "siwe_nonces",
    "slash_commands",
    "thread_follows",
    "threads",
    "tip_intents",
    "totp_secrets",
    "uploads",
    "users",
    "wallets",
    "webhook_deliveries",
]
