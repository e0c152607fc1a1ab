"""HTTP routes for Sign-In with Ethereum: nonces, wallet sign-in, my linked wallets, and the
addresses another person's profile card shows."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, status

from tipline.api.deps import CurrentCaller, IdPath, Rt, client_ip, user_agent
from tipline.domain.accounts.schemas import TokenPair
from tipline.domain.wallets import actions
from tipline.domain.wallets.schemas import NonceOut, PublicWalletOut, SiweIn, WalletOut

router = APIRouter(tags=["wallets"])

REFUSALS: dict[int | str, dict[str, Any]] = {
    403: {
        "description": "bad signature, expired or not yet valid message, unknown or expired nonce; "
        "wallet_not_linked: a new account is not allowed by the server's sign-up settings"
    },
    409: {"description": "nonce already used, message replayed, or wallet linked to another account"},
    422: {"description": "malformed message, or wrong domain, URI or chain id"},
    429: {"description": "rate limited; see Retry-After"},
}


@router.post("/auth/siwe/nonce", response_model=NonceOut, responses=REFUSALS)
async def issue_nonce(rt: Rt, request: Request) -> NonceOut:
    """A single-use nonce for a Sign-In with Ethereum message, with the domain, URI and chain to use."""
    await rt.limits.check("signin_per_ip", client_ip(request))
    return await actions.do_issue_nonce(rt)


@router.post("/auth/siwe/signin", response_model=TokenPair, responses=REFUSALS)
async def sign_in_with_wallet(body: SiweIn, rt: Rt, request: Request) -> TokenPair:
    """Sign in with a signed EIP-4361 message; the first sign-in of an address creates its account."""
    await rt.limits.check("signin_per_ip", client_ip(request))
    return await actions.do_sign_in_with_wallet(rt, data=body, user_agent=user_agent(request), ip=client_ip(request))


@router.get("/me/wallets", response_model=list[WalletOut])
async def list_wallets(rt: Rt, caller: CurrentCaller) -> list[WalletOut]:
    """My linked wallets, oldest first."""
    return await actions.list_wallets(rt, user_id=caller.user_id)


@router.post("/me/wallets", status_code=status.HTTP_201_CREATED, response_model=WalletOut, responses=REFUSALS)
async def link_wallet(body: SiweIn, rt: Rt, caller: CurrentCaller) -> WalletOut:
    """Link a wallet to my account by a signed EIP-4361 message."""
    return await actions.do_link_wallet(rt, user_id=caller.user_id, data=body)


@router.delete("/me/wallets/{wallet_id}", status_code=status.HTTP_204_NO_CONTENT)
async def unlink_wallet(wallet_id: IdPath, rt: Rt, caller: CurrentCaller) -> None:
    """Unlink one of my wallets (not the last one of an account without a password)."""
    await actions.do_unlink_wallet(rt, user_id=caller.user_id, wallet_id=wallet_id)


@router.get("/users/{user_id}/wallets", response_model=list[PublicWalletOut])
async def user_wallets(user_id: IdPath, rt: Rt, caller: CurrentCaller) -> list[PublicWalletOut]:
    """A person's linked wallet addresses, for their profile card: mine, or someone who shares a
    conversation with me; anyone else answers ``404 user_not_found``."""
    return await actions.list_user_wallets(rt, user_id=caller.user_id, owner_id=user_id)
