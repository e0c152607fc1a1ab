"""HTTP routes for notifications: my levels and email setting, my push subscriptions, and the
digest's one-click unsubscribe (docs/subsystems/notifications.md)."""

from __future__ import annotations

import html
from typing import Annotated

from fastapi import APIRouter, Query, status
from fastapi.responses import HTMLResponse

from tipline.api.deps import CurrentCaller, IdPath, Rt
from tipline.domain.notifications import actions
from tipline.domain.notifications.schemas import (
    NotificationLevelIn,
    NotificationLevelOut,
    NotificationSettingsIn,
    NotificationSettingsOut,
    PushSubscriptionIn,
    PushSubscriptionOut,
)
from tipline.errors import DomainError

# Ids are bigints: a larger number is a 422, never a query.

router = APIRouter(tags=["notifications"])

# The unsubscribe pages are plain HTML with one form posting to themselves: nothing may load or run.
PAGE_CSP = "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'"


@router.get("/me/notifications", response_model=NotificationSettingsOut)
async def get_settings(rt: Rt, caller: CurrentCaller) -> NotificationSettingsOut:
    """My notification settings: email digests on or off, Web Push availability and its public key,
    and my level in each conversation where it is not the default `all`."""
    return await actions.notification_settings(rt, user_id=caller.user_id)


@router.patch("/me/notifications", response_model=NotificationSettingsOut)
async def set_settings(body: NotificationSettingsIn, rt: Rt, caller: CurrentCaller) -> NotificationSettingsOut:
    """Turn email notifications (the digest of unread DMs and mentions) on or off."""
    return await actions.do_set_email_enabled(rt, user_id=caller.user_id, enabled=body.email_enabled)


@router.get("/conversations/{conversation_id}/notifications", response_model=NotificationLevelOut)
async def get_level(conversation_id: IdPath, rt: Rt, caller: CurrentCaller) -> NotificationLevelOut:
    """My notification level in a conversation I am a member of."""
    return await actions.conversation_level(rt, user_id=caller.user_id, conversation_id=conversation_id)


@router.put("/conversations/{conversation_id}/notifications", response_model=NotificationLevelOut)
async def set_level(
    conversation_id: IdPath, body: NotificationLevelIn, rt: Rt, caller: CurrentCaller
) -> NotificationLevelOut:
    """Set my level: `all` (the default), `mentions` (mentions, @here and @channel only) or `mute`.
    It applies to the web client's notifications, Web Push and email."""
    return await actions.do_set_level(rt, user_id=caller.user_id, conversation_id=conversation_id, level=body.level)


@router.get("/me/push-subscriptions", response_model=list[PushSubscriptionOut])
async def list_subscriptions(rt: Rt, caller: CurrentCaller) -> list[PushSubscriptionOut]:
    """The devices (browsers) that get my push notifications."""
    return await actions.list_subscriptions(rt, user_id=caller.user_id)


@router.post("/me/push-subscriptions", status_code=status.HTTP_201_CREATED, response_model=PushSubscriptionOut)
async def subscribe(body: PushSubscriptionIn, rt: Rt, caller: CurrentCaller) -> PushSubscriptionOut:
    """Register this browser's push subscription (`PushSubscription.toJSON()` and a label)."""
    return await actions.do_subscribe(rt, user_id=caller.user_id, data=body)


@router.delete("/me/push-subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def remove_subscription(subscription_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    """Stop pushing to one of my devices."""
    await actions.do_remove_subscription(rt, user_id=caller.user_id, subscription_id=subscription_id)


def _page(title: str, body: str, *, code: int = 200) -> HTMLResponse:
    page = (
        f'<!doctype html><html><head><meta charset="utf-8"><title>{html.escape(title)}</title></head>'
        f'<body style="font-family: sans-serif; max-width: 32rem; margin: 3rem auto">{body}</body></html>'
    )
    return HTMLResponse(
        page, status_code=code, headers={"Content-Security-Policy": PAGE_CSP, "Cache-Control": "no-store"}
    )


UserId = Annotated[int, Query(alias="u", ge=1)]
Token = Annotated[str, Query(alias="t", min_length=10, max_length=100)]


@router.get("/notifications/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe_page(u: UserId, t: Token) -> HTMLResponse:
    """The digest's link: a page with one button (a GET changes nothing, so link scanners cannot unsubscribe)."""
    return _page(
        "Unsubscribe",
        "<h1>Stop email notifications?</h1><p>You will no longer get mails about unread DMs and mentions. "
        "You can turn them back on in Tipline's Settings.</p>"
        '<form method="post"><button type="submit">Unsubscribe</button></form>',
    )


@router.post("/notifications/unsubscribe", response_class=HTMLResponse, include_in_schema=False)
async def unsubscribe(u: UserId, t: Token, rt: Rt) -> HTMLResponse:
    """One click (RFC 8058: mail clients POST here), or the page's button."""
    try:
        await actions.do_unsubscribe_email(rt, user_id=u, token=t)
    except DomainError as exc:
        return _page("Unsubscribe", f"<h1>This link does not work</h1><p>{html.escape(str(exc))}</p>", code=403)
    return _page(
        "Unsubscribed",
        "<h1>Unsubscribed</h1><p>You will no longer get email notifications. Turn them back on in Settings.</p>",
    )
