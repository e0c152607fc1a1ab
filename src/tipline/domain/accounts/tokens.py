"""Passwords (argon2id) and tokens (JWT access tokens, opaque refresh tokens).

Access tokens are HS256 JWTs with the algorithm pinned on decode, and ``iss``, ``aud``,
``exp``, ``iat``, ``sub`` and ``sid`` required. Refresh tokens are 256-bit random strings;
only their SHA-256 is stored.
"""

from __future__ import annotations

import hashlib
import secrets
import time
import uuid
from dataclasses import dataclass
from functools import lru_cache

import jwt
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn.frequency_lists import FREQUENCY_LISTS

from tipline.config import Settings
from tipline.errors import Invalid, Unauthorized

ALGORITHM = "HS256"


@dataclass(frozen=True)
class AccessClaims:
    user_id: int
    session_id: uuid.UUID
    # None for a signed-in session (it may do all its user may); a personal access token's
    # scopes otherwise (domain/tokens/scopes.py).
    scopes: frozenset[str] | None = None
    # A personal access token's expiry (epoch seconds): its open sockets close then.
    expires_at: float | None = None


@lru_cache(maxsize=4)
def _hasher(time_cost: int, memory_kib: int, parallelism: int) -> PasswordHasher:
    return PasswordHasher(time_cost=time_cost, memory_cost=memory_kib, parallelism=parallelism)


def hasher(settings: Settings) -> PasswordHasher:
    return _hasher(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


@lru_cache(maxsize=1)
def _common_passwords() -> frozenset[str]:
    return frozenset(FREQUENCY_LISTS["passwords"])


def check_password_policy(password: str, *, email: str, handle: str, min_length: int) -> None:
    if len(password) < min_length:
        raise Invalid(f"the password must be at least {min_length} characters", code="password_too_short")
    lowered = password.lower()
    if lowered in _common_passwords() or lowered in {email.lower(), handle.lower()}:
        raise Invalid("this password is too common; choose another", code="password_too_common")


def hash_password(settings: Settings, password: str) -> str:
    return hasher(settings).hash(password)


def verify_password(settings: Settings, stored: str | None, password: str) -> bool:
    """Constant work whether or not an account exists: a missing hash checks a dummy one."""
    h = hasher(settings)
    target = stored if stored is not None else _dummy_hash(settings)
    try:
        ok = h.verify(target, password)
    except (VerificationError, InvalidHashError):
        return False
    return ok and stored is not None


@lru_cache(maxsize=4)
def _dummy_hash_for(time_cost: int, memory_kib: int, parallelism: int) -> str:
    return _hasher(time_cost, memory_kib, parallelism).hash(secrets.token_urlsafe(16))


def _dummy_hash(settings: Settings) -> str:
    return _dummy_hash_for(settings.argon2_time_cost, settings.argon2_memory_kib, settings.argon2_parallelism)


def issue_access_token(settings: Settings, key: bytes, *, user_id: int, session_id: uuid.UUID) -> str:
    now = int(time.time())
    claims = {
        "sub": str(user_id),
        "sid": str(session_id),
        "iat": now,
        "nbf": now,
        "exp": now + settings.access_token_ttl_s,
        "iss": settings.jwt_issuer,
        "aud": settings.jwt_audience,
        "typ": "access",
    }
    return jwt.encode(claims, key, algorithm=ALGORITHM)


LEEWAY_S = 5

# Access tokens already verified, so the requests of one client do not check the same signature
# and claims over and over (PyJWT's decoding was a fifth of a cached history page's CPU). Keyed by
# everything the outcome depends on but the clock; an entry holds while its token's ``exp`` does.
# Bounded: the oldest entries go first. A session's revocation is checked in PostgreSQL on every
# call regardless (access_session), so this changes no answer.
_verified: dict[tuple[str, bytes, str, str], tuple[AccessClaims, float, float]] = {}
VERIFIED_MAX = 10_000


def decode_access_token(settings: Settings, key: bytes, token: str) -> AccessClaims:
    cache_key = (token, key, settings.jwt_issuer, settings.jwt_audience)
    hit = _verified.get(cache_key)
    if hit is not None:
        claims, verified_at, expires = hit
        if verified_at <= time.time() < expires + LEEWAY_S:
            return claims
        del _verified[cache_key]  # expired (or the clock went back): decode answers why
    try:
        decoded = jwt.decode(
            token,
            key,
            algorithms=[ALGORITHM],
            audience=settings.jwt_audience,
            issuer=settings.jwt_issuer,
            options={"require": ["exp", "iat", "sub", "sid", "iss", "aud"]},
            leeway=LEEWAY_S,
        )
        if decoded.get("typ") != "access":
            raise Unauthorized("not an access token", code="invalid_token")
        claims = AccessClaims(user_id=int(decoded["sub"]), session_id=uuid.UUID(decoded["sid"]))
        expires = float(decoded["exp"])
    except jwt.ExpiredSignatureError as exc:
        raise Unauthorized("the access token has expired", code="token_expired") from exc
    except (jwt.InvalidTokenError, ValueError, TypeError) as exc:
        raise Unauthorized("invalid access token", code="invalid_token") from exc
    if len(_verified) >= VERIFIED_MAX:
        del _verified[next(iter(_verified))]
    _verified[cache_key] = (claims, time.time(), expires)
    return claims


def new_refresh_token() -> tuple[str, bytes]:
    token = secrets.token_urlsafe(32)
    return token, hash_refresh_token(token)


def hash_refresh_token(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
