"""Second factors without I/O: TOTP codes, recovery codes, secrets sealed at rest, passkey options.

Keys come from JWT_SECRET through ``derive_key`` (one label per use), so nothing new has to be
configured; rotating JWT_SECRET makes stored TOTP secrets unreadable (their owners sign in with a
recovery code or a passkey and enrol again) and recovery codes unusable. See
docs/subsystems/accounts.md (Two-factor authentication and passkeys).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import time
from typing import Any
from urllib.parse import urlsplit

import pyotp
import segno
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from tipline.config import Settings
from tipline.storage.objects import derive_key

TOTP_DIGITS = 6
TOTP_PERIOD_S = 30
# One step either side of now: a phone clock up to about 30 s off still works.
TOTP_DRIFT_STEPS = 1
RECOVERY_CODES = 10
# Ten characters from a 32-letter alphabet without look-alikes (50 bits), shown as XXXXX-XXXXX.
RECOVERY_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
ISSUER = "Tipline"


def seal(master: bytes, user_id: int, secret: str) -> bytes:
    """AES-256-GCM with a random nonce; the user id is bound in as associated data, so a sealed
    secret copied to another account's row does not open."""
    nonce = secrets.token_bytes(12)
    key = derive_key(master, "totp-secrets")
    return nonce + AESGCM(key).encrypt(nonce, secret.encode(), str(user_id).encode())


def unseal(master: bytes, user_id: int, sealed: bytes) -> str | None:
    key = derive_key(master, "totp-secrets")
    try:
        return AESGCM(key).decrypt(sealed[:12], sealed[12:], str(user_id).encode()).decode()
    except (InvalidTag, ValueError):
        return None  # sealed under another JWT_SECRET


def new_totp_secret() -> str:
    return pyotp.random_base32()  # 160 bits, as RFC 4226 recommends


def otpauth_uri(secret: str, *, account: str) -> str:
    return pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_S).provisioning_uri(
        name=account, issuer_name=ISSUER
    )


def qr_svg_data_uri(uri: str) -> str:
    """The otpauth URI as a QR code, an SVG data URI (made here: no third party sees the secret)."""
    return str(segno.make(uri, error="m").svg_data_uri(scale=5, border=2))


def looks_like_totp(code: str) -> bool:
    # ASCII only: str.isdigit() also accepts other scripts' digits, which no app shows (and which
    # hmac.compare_digest refuses).
    return len(code) == TOTP_DIGITS and code.isascii() and code.isdigit()


def match_totp(secret: str, code: str, *, last_step: int | None, now: float | None = None) -> int | None:
    """The time step ``code`` belongs to, if it is valid within the drift window and later than
    ``last_step`` (a code is accepted once: a replay of the same step, or of an earlier one, fails)."""
    if not looks_like_totp(code):
        return None
    totp = pyotp.TOTP(secret, digits=TOTP_DIGITS, interval=TOTP_PERIOD_S)
    current = int((time.time() if now is None else now) // TOTP_PERIOD_S)
    found: int | None = None
    for step in range(current - TOTP_DRIFT_STEPS, current + TOTP_DRIFT_STEPS + 1):
        # Compare every candidate, so the time taken says nothing about which one matched.
        if hmac.compare_digest(totp.generate_otp(step), code) and found is None:
            found = step
    if found is None or (last_step is not None and found <= last_step):
        return None
    return found


def new_recovery_codes() -> list[str]:
    codes = []
    for _ in range(RECOVERY_CODES):
        raw = "".join(secrets.choice(RECOVERY_ALPHABET) for _ in range(10))
        codes.append(f"{raw[:5]}-{raw[5:]}")
    return codes


def normalize_recovery_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isascii() and ch.isalnum())


def hash_recovery_code(master: bytes, code: str) -> bytes:
    """A keyed hash: 50 bits is too few to stand up to an offline search of a plain hash."""
    return hmac.new(
        derive_key(master, "recovery-codes"), normalize_recovery_code(code).encode(), hashlib.sha256
    ).digest()


# --- passkeys (WebAuthn) --------------------------------------------------------------------------


def relying_party(settings: Settings) -> tuple[str, str]:
    """(RP id, expected origin), both from PUBLIC_URL: the RP id is its host name."""
    origin = settings.public_url.rstrip("/")
    host = urlsplit(origin).hostname or "localhost"
    return host, origin


def options_dict(options: Any) -> dict[str, Any]:
    import webauthn

    result: dict[str, Any] = json.loads(webauthn.options_to_json(options))
    return result
