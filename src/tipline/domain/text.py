"""Text that PostgreSQL can store: rejected up front so bad input is a 422, never a 500."""

from __future__ import annotations

from typing import Annotated

from pydantic import AfterValidator


def check_storable(value: str) -> str:
    if "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError("text must be valid Unicode (no lone surrogates)") from exc
    return value


StorableStr = Annotated[str, AfterValidator(check_storable)]
