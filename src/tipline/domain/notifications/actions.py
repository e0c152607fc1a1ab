"""Notification actions: levels, email settings, push subscriptions, one-click unsubscribe.
The worker (worker.py) does the sending. See docs/subsystems/notifications.md.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode, urlsplit

from sqlalchemy import RowMapping
from sqlalchemy.exc import IntegrityError

from tipline.domain.conversations.access import access_member
from tipline.domain.notifications import repository as repo
from tipline.domain.notifications.access import check_endpoint_url, check_unsubscribe_token, unsubscribe_token
from tipline.domain.notifications.push import push_enabled
from tipline.domain.notifications.schemas import (
    Level,
    NotificationLevelOut,
    NotificationSettingsOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from tipline.errors import Invalid, NotFound
from tipline.runtime import Runtime

MAX_SUBSCRIPTIONS = 20


def _subscription_out(row: RowMapping) -> PushSubscriptionOut:
    parts = urlsplit(row["endpoint"])
    return PushSubscriptionOut(
        id=row["id"],
        label=row["label"],
        endpoint_origin=f"{parts.scheme}://{parts.netloc}",
        created_at=row["created_at"],
        last_push_at=row["last_push_at"],
    )


async def notification_settings(rt: Runtime, *, user_id: int) -> NotificationSettingsOut:
    async with rt.engine.connect() as conn:
        enabled = await repo.email_enabled(conn, user_id=user_id)
        levels = await repo.levels_for(conn, user_id=user_id)
    on = push_enabled(rt.settings)
    return NotificationSettingsOut(
        email_enabled=enabled,
        email_delay_s=rt.settings.email_notify_delay_s,
        push_available=on,
        vapid_public_key=rt.settings.vapid_public_key if on else None,
        levels={str(cid): level for cid, level in levels.items()},
    )


async def do_set_email_enabled(rt: Runtime, *, user_id: int, enabled: bool) -> NotificationSettingsOut:
    async with rt.engine.begin() as conn:
        await repo.set_email_enabled(conn, user_id=user_id, enabled=enabled)
    return await notification_settings(rt, user_id=user_id)


async def do_set_level(rt: Runtime, *, user_id: int, conversation_id: int, level: Level) -> NotificationLevelOut:
    """My notification level in one conversation I am a member of."""
    async with rt.engine.begin() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        await repo.set_level(conn, conversation_id=conversation_id, user_id=user_id, level=level)
    return NotificationLevelOut(conversation_id=conversation_id, level=level)


async def conversation_level(rt: Runtime, *, user_id: int, conversation_id: int) -> NotificationLevelOut:
    async with rt.engine.connect() as conn:
        await access_member(conn, user_id=user_id, conversation_id=conversation_id)
        levels = await repo.levels_for(conn, user_id=user_id)
    level: Any = levels.get(conversation_id, "all")
    return NotificationLevelOut(conversation_id=conversation_id, level=level)


async def list_subscriptions(rt: Runtime, *, user_id: int) -> list[PushSubscriptionOut]:
    async with rt.engine.connect() as conn:
        return [_subscription_out(r) for r in await repo.subscriptions_of(conn, user_id=user_id)]


async def do_subscribe(rt: Runtime, *, user_id: int, data: PushSubscriptionIn) -> PushSubscriptionOut:
    """Register this browser's push subscription for me (the same endpoint again: updated)."""
    if not push_enabled(rt.settings):
        raise Invalid("this server has no Web Push keys (VAPID_PRIVATE_KEY, VAPID_PUBLIC_KEY)", code="push_disabled")
    endpoint = check_endpoint_url(data.endpoint, allowed_private=rt.settings.push_allowed_private_hosts)
    async with rt.engine.begin() as conn:
        existing = await repo.subscriptions_of(conn, user_id=user_id)
        if len(existing) >= MAX_SUBSCRIPTIONS and all(r["endpoint"] != endpoint for r in existing):
            raise Invalid(
                f"at most {MAX_SUBSCRIPTIONS} devices get push notifications: remove one first",
                code="too_many_subscriptions",
            )
        row = await repo.upsert_subscription(
            conn, user_id=user_id, endpoint=endpoint, p256dh=data.keys.p256dh, auth=data.keys.auth, label=data.label
        )
    return _subscription_out(row)


async def do_remove_subscription(rt: Runtime, *, user_id: int, subscription_id: int) -> None:
    async with rt.engine.begin() as conn:
        if not await repo.delete_subscription(conn, subscription_id=subscription_id, user_id=user_id):
            raise NotFound("push subscription not found", code="subscription_not_found")


def unsubscribe_url(rt: Runtime, *, user_id: int) -> str:
    """The one-click unsubscribe link of a digest (docs/subsystems/notifications.md says why a
    token in this URL is acceptable)."""
    query = urlencode({"u": user_id, "t": unsubscribe_token(rt.jwt_key, user_id)})
    return f"{rt.settings.public_url.rstrip('/')}/notifications/unsubscribe?{query}"


async def do_unsubscribe_email(rt: Runtime, *, user_id: int, token: str) -> None:
    """Turn off email notifications with the digest's signed link (no sign-in needed)."""
    check_unsubscribe_token(rt.jwt_key, user_id, token)
    try:
        async with rt.engine.begin() as conn:
            await repo.set_email_enabled(conn, user_id=user_id, enabled=False)
    except IntegrityError:
        return  # the account is gone: nothing will be mailed to it anyway
