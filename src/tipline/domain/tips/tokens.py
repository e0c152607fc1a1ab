"""The coins and tokens one may tip, from configuration, and amount conversions."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from tipline.chain.abi import ZERO_ADDRESS
from tipline.config import Settings
from tipline.errors import Invalid

NATIVE_DECIMALS = 18


@dataclass(frozen=True)
class Token:
    symbol: str
    address: str  # lower case; ZERO_ADDRESS for the native coin
    decimals: int

    @property
    def native(self) -> bool:
        return self.address == ZERO_ADDRESS


def configured_tokens(settings: Settings) -> dict[str, Token]:
    """Symbol -> token: the native coin first, then TIP_TOKENS."""
    tokens = {settings.tip_native_symbol: Token(settings.tip_native_symbol, ZERO_ADDRESS, NATIVE_DECIMALS)}
    for spec in settings.tip_tokens:
        symbol, address, decimals = spec.split(":")
        tokens[symbol] = Token(symbol, address.lower(), int(decimals))
    return tokens


def to_base_units(amount: str, token: Token, settings: Settings) -> int:
    """``"1.5"`` ETH -> 1500000000000000000, within the configured bounds and the token's precision."""
    try:
        value = Decimal(amount)
    except InvalidOperation:
        raise Invalid("amount must be a decimal number such as 0.5", code="amount_invalid") from None
    if not value.is_finite() or value <= 0:
        raise Invalid("amount must be a positive number", code="amount_invalid")
    if value < settings.tip_min_amount or value > settings.tip_max_amount:
        raise Invalid(
            f"a tip is between {settings.tip_min_amount} and {settings.tip_max_amount} {token.symbol}",
            code="amount_out_of_bounds",
        )
    base = value.scaleb(token.decimals)
    if base != base.to_integral_value():
        raise Invalid(f"{token.symbol} has only {token.decimals} decimals", code="amount_too_precise")
    return int(base)


def display(base_units: int, decimals: int) -> str:
    """1500000000000000000 with 18 decimals -> ``"1.5"``."""
    text = format(Decimal(base_units).scaleb(-decimals), "f")
    return text.rstrip("0").rstrip(".") if "." in text else text
