"""Request and response shapes for wallets and Sign-In with Ethereum."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

from tipline.domain.wallets.siwe import MAX_MESSAGE_CHARS


class SiweIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: Annotated[str, Field(min_length=1, max_length=MAX_MESSAGE_CHARS, description="The EIP-4361 text.")]
    # 65 bytes for an ordinary wallet; a contract wallet (EIP-1271) may sign with more.
    signature: Annotated[str, Field(min_length=4, max_length=2 + 2 * 4096, pattern=r"^0x([0-9a-fA-F]{2})+$")]


class NonceOut(BaseModel):
    """What a client needs to build the message: a fresh nonce and the values the server checks."""

    nonce: str
    expires_at: datetime
    domain: str
    uri: str
    chain_id: int


class WalletOut(BaseModel):
    id: int
    address: str
    chain_id: int
    created_at: datetime


class PublicWalletOut(BaseModel):
    """Another person's linked wallet as their profile card shows it: the public address only."""

    address: str
    chain_id: int
