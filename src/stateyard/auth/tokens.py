"""Signed bearer tokens (JWT, HS256 only).

Expiry is checked against the injected clock rather than the wall clock, so token lifetimes
are testable; the algorithm is fixed, so a token cannot choose how it is verified.
"""

from __future__ import annotations

import uuid
from datetime import timedelta

import jwt
import msgspec

from stateyard.core.clock import Clock
from stateyard.core.errors import ProblemError, unauthorized

ALGORITHM = "HS256"
VERIFIED_CACHE_SIZE = 4096


class Claims(msgspec.Struct, frozen=True):
    sub: uuid.UUID
    jti: str
    iat: int
    exp: int
    #: The account's token version when the token was issued: bumping it revokes every older token.
    tv: int = 1


class TokenService:
    def __init__(self, key: bytes, *, issuer: str, ttl_seconds: int, clock: Clock) -> None:
        self._key = key
        self.issuer = issuer
        self.ttl = timedelta(seconds=ttl_seconds)
        self.clock = clock
        #: Tokens whose signature and claims were checked already (the result cannot change for a
        #: given token and key); expiry is still checked against the clock on every use.
        self._verified: dict[str, Claims] = {}

    def issue(self, user_id: uuid.UUID, token_version: int = 1) -> tuple[str, Claims]:
        now = self.clock.now()
        claims = Claims(
            sub=user_id,
            jti=uuid.uuid4().hex,
            iat=int(now.timestamp()),
            exp=int((now + self.ttl).timestamp()),
            tv=token_version,
        )
        payload = {**msgspec.to_builtins(claims), "iss": self.issuer}
        return jwt.encode(payload, self._key, algorithm=ALGORITHM), claims

    def verify(self, token: str) -> Claims:
        claims = self._verified.get(token)
        if claims is None:
            claims = self._decode(token)
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                self._verified.clear()
            self._verified[token] = claims
        if claims.exp <= int(self.clock.now().timestamp()):
            raise invalid_token("The bearer token has expired; sign in again.")
        return claims

    def _decode(self, token: str) -> Claims:
        try:
            payload = jwt.decode(
                token,
                self._key,
                algorithms=[ALGORITHM],
                issuer=self.issuer,
                options={
                    "verify_exp": False,
                    "verify_iat": False,
                    "require": ["sub", "exp", "iat", "jti", "iss"],
                },
            )
            claims = msgspec.convert(payload, Claims, strict=False)
        except (jwt.PyJWTError, msgspec.ValidationError):
            raise invalid_token("The bearer token is malformed or its signature does not match.") from None
        return claims


def invalid_token(detail: str) -> ProblemError:
    return unauthorized(detail, reason="invalid_token")
