"""OpenID Connect relying party: provider configuration, discovery, PKCE, code exchange and ID token checks.

No database and no writes here: the sign-in actions in actions.py call these. See
docs/subsystems/accounts.md ("Sign in with an OpenID Connect provider").
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import hmac
import re
import secrets
import time
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, urlencode, urlsplit

import httpx
import jwt
import orjson

from tipline.config import Settings
from tipline.errors import NotFound, Unauthorized, Unavailable

NAME_RE = re.compile(r"^[a-z0-9_]{1,32}$")
DISCOVERY_TTL_S = 3600.0
# A kid we do not know makes us fetch the JWKS again (key rotation), but not more often than this.
JWKS_REFETCH_S = 30.0


class OidcConfigError(ValueError):
    """OIDC_PROVIDERS cannot be used; the message says why (shown by `tipline check`)."""


@dataclass(frozen=True)
class ProviderConfig:
    name: str
    display_name: str
    issuer: str
    client_id: str
    client_secret: str | None
    scopes: tuple[str, ...]


def _loopback(host: str | None) -> bool:
    return host in {"127.0.0.1", "localhost", "::1"}


def parse_providers(settings: Settings) -> dict[str, ProviderConfig]:
    """The configured providers by name; raises OidcConfigError with the reason when the JSON is wrong."""
    if not settings.oidc_providers:
        return {}
    try:
        items = orjson.loads(settings.oidc_providers)
    except orjson.JSONDecodeError as exc:
        raise OidcConfigError(f"OIDC_PROVIDERS is not JSON: {exc}") from exc
    if not isinstance(items, list):
        raise OidcConfigError("OIDC_PROVIDERS must be a JSON list of provider objects")
    providers: dict[str, ProviderConfig] = {}
    for item in items:
        if not isinstance(item, dict):
            raise OidcConfigError("each OIDC provider is a JSON object")
        name = str(item.get("name", ""))
        if not NAME_RE.fullmatch(name) or name in providers:
            raise OidcConfigError(f"OIDC provider name {name!r} must be unique, 1-32 of a-z, 0-9, _")
        issuer = str(item.get("issuer", "")).rstrip("/")
        parts = urlsplit(issuer)
        # Plain http only on loopback (a provider on this machine, as in the tests).
        if not (parts.scheme == "https" or (parts.scheme == "http" and _loopback(parts.hostname))):
            raise OidcConfigError(f"OIDC provider {name}: issuer must be an https:// URL")
        client_id = str(item.get("client_id", ""))
        if not client_id:
            raise OidcConfigError(f"OIDC provider {name}: client_id is required")
        if "client_secret" in item:
            raise OidcConfigError(f"OIDC provider {name}: put the secret in OIDC_{name.upper()}_CLIENT_SECRET")
        scopes = item.get("scopes") or ["openid", "email", "profile"]
        if isinstance(scopes, str):
            scopes = scopes.split()
        if "openid" not in scopes:
            scopes = ["openid", *scopes]
        providers[name] = ProviderConfig(
            name=name,
            display_name=str(item.get("display_name") or name.title()),
            issuer=issuer,
            client_id=client_id,
            client_secret=settings.oidc_client_secret(name),
            scopes=tuple(str(s) for s in scopes),
        )
    return providers


# --- PKCE, state, nonce -----------------------------------------------------------------------------


def random_token() -> str:
    return secrets.token_urlsafe(32)


def sha256(value: str) -> bytes:
    return hashlib.sha256(value.encode()).digest()


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: BASE64URL(SHA256(verifier)) without padding."""
    return base64.urlsafe_b64encode(sha256(verifier)).rstrip(b"=").decode()


# --- talking to providers -----------------------------------------------------------------------


@dataclass
class _Cached:
    discovery: dict[str, Any]
    fetched_at: float
    jwks: jwt.PyJWKSet | None = None
    jwks_fetched_at: float = 0.0


@dataclass(frozen=True)
class Identity:
    """Who the provider vouches for, after every check passed."""

    provider: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None
    preferred_username: str | None


@dataclass
class OidcClient:
    """The configured providers and what was learned from them (discovery documents, signing keys)."""

    settings: Settings
    providers: dict[str, ProviderConfig]
    http: httpx.AsyncClient = field(default_factory=lambda: httpx.AsyncClient(timeout=10.0, follow_redirects=False))
    _cache: dict[str, _Cached] = field(default_factory=dict)

    @classmethod
    def from_settings(cls, settings: Settings) -> OidcClient:
        return cls(settings=settings, providers=parse_providers(settings))

    async def close(self) -> None:
        await self.http.aclose()

    def provider(self, name: str) -> ProviderConfig:
        provider = self.providers.get(name)
        if provider is None:
            raise NotFound(f"no sign-in provider named {name!r}", code="oidc_provider_not_found")
        return provider

    def redirect_uri(self, provider: ProviderConfig) -> str:
        return f"{self.settings.public_url.rstrip('/')}/auth/oidc/{provider.name}/callback"

    async def _get_json(self, url: str) -> dict[str, Any]:
        try:
            response = await self.http.get(url, headers={"Accept": "application/json"})
            response.raise_for_status()
            value = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable("the sign-in provider cannot be reached", code="oidc_provider_unavailable") from exc
        if not isinstance(value, dict):
            raise Unavailable("the sign-in provider answered something unexpected", code="oidc_provider_unavailable")
        return value

    async def discovery(self, provider: ProviderConfig) -> dict[str, Any]:
        cached = self._cache.get(provider.name)
        if cached is not None and time.monotonic() - cached.fetched_at < DISCOVERY_TTL_S:
            return cached.discovery
        doc = await self._get_json(f"{provider.issuer}/.well-known/openid-configuration")
        # OIDC Discovery 4.3: the document must name the issuer it was fetched from.
        if doc.get("issuer", "").rstrip("/") != provider.issuer:
            raise Unavailable("the sign-in provider's discovery names another issuer", code="oidc_discovery_mismatch")
        for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
            if not isinstance(doc.get(key), str):
                raise Unavailable(f"the sign-in provider's discovery has no {key}", code="oidc_discovery_invalid")
        self._cache[provider.name] = _Cached(discovery=doc, fetched_at=time.monotonic())
        return doc

    async def authorization_url(self, provider: ProviderConfig, *, state: str, nonce: str, code_verifier: str) -> str:
        doc = await self.discovery(provider)
        query = urlencode(
            {
                "response_type": "code",
                "client_id": provider.client_id,
                "redirect_uri": self.redirect_uri(provider),
                "scope": " ".join(provider.scopes),
                "state": state,
                "nonce": nonce,
                "code_challenge": pkce_challenge(code_verifier),
                "code_challenge_method": "S256",
            }
        )
        endpoint: str = doc["authorization_endpoint"]
        return f"{endpoint}{'&' if '?' in endpoint else '?'}{query}"

    async def exchange_code(self, provider: ProviderConfig, *, code: str, code_verifier: str) -> dict[str, Any]:
        doc = await self.discovery(provider)
        form = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri(provider),
            "code_verifier": code_verifier,
        }
        headers = {"Accept": "application/json"}
        if provider.client_secret is None:
            form["client_id"] = provider.client_id  # a public client: PKCE is its proof
        else:
            # client_secret_basic (RFC 6749 2.3.1): both parts form-urlencoded before base64.
            pair = f"{quote(provider.client_id, safe='')}:{quote(provider.client_secret, safe='')}"
            headers["Authorization"] = "Basic " + base64.b64encode(pair.encode()).decode()
        try:
            response = await self.http.post(doc["token_endpoint"], data=form, headers=headers)
        except httpx.HTTPError as exc:
            raise Unavailable("the sign-in provider cannot be reached", code="oidc_provider_unavailable") from exc
        if response.status_code != 200:
            # The provider's error code is safe to pass on; its body may echo the request, so not that.
            error = ""
            with contextlib.suppress(ValueError, AttributeError):
                error = str(response.json().get("error", ""))[:64]
            raise Unauthorized(
                f"the sign-in provider refused the code ({error or response.status_code})", code="oidc_code_refused"
            )
        tokens: dict[str, Any] = response.json()
        if not isinstance(tokens.get("id_token"), str):
            raise Unauthorized("the sign-in provider returned no ID token", code="oidc_no_id_token")
        return tokens

    async def _signing_key(self, provider: ProviderConfig, token: str) -> jwt.PyJWK:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError as exc:
            raise Unauthorized("the ID token is malformed", code="oidc_token_invalid") from exc
        kid = header.get("kid")
        doc = await self.discovery(provider)
        cached = self._cache[provider.name]
        for attempt in range(2):
            if cached.jwks is None or (attempt == 1 and time.monotonic() - cached.jwks_fetched_at > JWKS_REFETCH_S):
                try:
                    cached.jwks = jwt.PyJWKSet.from_dict(await self._get_json(doc["jwks_uri"]))
                except jwt.PyJWTError as exc:
                    raise Unavailable("the sign-in provider's keys are unusable", code="oidc_jwks_invalid") from exc
                cached.jwks_fetched_at = time.monotonic()
            candidates = [k for k in cached.jwks.keys if kid is None or k.key_id == kid]
            if candidates:
                return candidates[0]
        raise Unauthorized("the ID token is signed by an unknown key", code="oidc_token_invalid")

    async def verify_id_token(self, provider: ProviderConfig, token: str, *, nonce: str) -> dict[str, Any]:
        """Check the ID token's signature (against the provider's JWKS) and claims (OIDC Core 3.1.3.7)."""
        key = await self._signing_key(provider, token)
        skew = self.settings.oidc_clock_skew_s
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                # The allow-list, never the token's own choice: no "none", no HMAC with a public key.
                algorithms=self.settings.oidc_algorithms,
                audience=provider.client_id,
                issuer=provider.issuer,
                leeway=skew,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise Unauthorized("the ID token has expired", code="oidc_token_expired") from exc
        except jwt.InvalidAudienceError as exc:
            raise Unauthorized("the ID token was issued to another client", code="oidc_wrong_audience") from exc
        except jwt.InvalidIssuerError as exc:
            raise Unauthorized("the ID token comes from another issuer", code="oidc_wrong_issuer") from exc
        except jwt.InvalidAlgorithmError as exc:
            raise Unauthorized("the ID token's algorithm is not allowed", code="oidc_token_invalid") from exc
        except jwt.PyJWTError as exc:
            raise Unauthorized(f"the ID token is invalid: {exc}", code="oidc_token_invalid") from exc
        if not isinstance(claims["iat"], int | float) or claims["iat"] > time.time() + skew:
            raise Unauthorized("the ID token was issued in the future", code="oidc_token_invalid")
        audiences = claims["aud"] if isinstance(claims["aud"], list) else [claims["aud"]]
        if len(audiences) > 1 and claims.get("azp") != provider.client_id:
            raise Unauthorized("the ID token was issued to another client", code="oidc_wrong_audience")
        if not hmac.compare_digest(str(claims.get("nonce", "")), nonce):
            raise Unauthorized("the ID token's nonce does not match this sign-in", code="oidc_nonce_mismatch")
        return claims

    async def userinfo(self, provider: ProviderConfig, access_token: str) -> dict[str, Any]:
        doc = await self.discovery(provider)
        endpoint = doc.get("userinfo_endpoint")
        if not isinstance(endpoint, str):
            return {}
        try:
            response = await self.http.get(endpoint, headers={"Authorization": f"Bearer {access_token}"})
            response.raise_for_status()
            value = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise Unavailable("the sign-in provider cannot be reached", code="oidc_provider_unavailable") from exc
        return value if isinstance(value, dict) else {}

    async def identity(self, provider: ProviderConfig, *, code: str, code_verifier: str, nonce: str) -> Identity:
        """Exchange the code, verify the ID token, and read the user's claims."""
        tokens = await self.exchange_code(provider, code=code, code_verifier=code_verifier)
        claims = await self.verify_id_token(provider, tokens["id_token"], nonce=nonce)
        subject = str(claims["sub"])
        # Providers that keep profile claims out of the ID token (OIDC Core 5.4) serve them from UserInfo;
        # its `sub` must be the ID token's (5.3.2), or the answer is about someone else.
        if "email" not in claims and isinstance(tokens.get("access_token"), str):
            info = await self.userinfo(provider, tokens["access_token"])
            if info:
                if str(info.get("sub")) != subject:
                    raise Unauthorized("the provider's user info is for another user", code="oidc_token_invalid")
                claims = {**info, **claims}
        email = claims.get("email")
        verified = claims.get("email_verified")
        return Identity(
            provider=provider.name,
            subject=subject,
            email=email if isinstance(email, str) and email else None,
            # Some providers (Cognito) send "true" as a string.
            email_verified=verified is True or verified == "true",
            name=claims.get("name") if isinstance(claims.get("name"), str) else None,
            preferred_username=claims.get("preferred_username")
            if isinstance(claims.get("preferred_username"), str)
            else None,
        )
