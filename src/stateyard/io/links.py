"""Short-lived signed links: the answer to an export is a URL any HTTP client can fetch.

A link carries who asked and what they asked for, signed with a key of its own and expiring
after ``export_link_ttl_seconds``; it grants nothing by itself. Whoever fetches it gets what
the person who asked may read *at that moment*, checked again when the link is used.
"""

from __future__ import annotations

import uuid
from datetime import timedelta
from typing import Any

import jwt
import msgspec

from stateyard.auth.permissions import ANONYMOUS, SYSTEM, Subject
from stateyard.core.clock import Clock
from stateyard.core.errors import ProblemError, not_found

ALGORITHM = "HS256"
AUDIENCE = "stateyard:export"


class LinkClaims(msgspec.Struct, frozen=True):
    #: The user who asked; None for a guest or the system.
    sub: str | None
    #: True when the system itself asked (a ``run_as: system`` action or the command line).
    system: bool
    entity: str
    spec: dict[str, Any]
    exp: int


class LinkSigner:
    def __init__(self, key: bytes, clock: Clock, ttl_seconds: int) -> None:
        self._key = key
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)

    def sign(self, subject: Subject, entity: str, spec: dict[str, Any]) -> str:
        expires = self.clock.now() + self.ttl
        claims = LinkClaims(
            sub=None if subject.user_id is None else str(subject.user_id),
            system=subject.user_id is None and subject.is_admin,
            entity=entity,
            spec=spec,
            exp=int(expires.timestamp()),
        )
        return jwt.encode({**msgspec.to_builtins(claims), "aud": AUDIENCE}, self._key, algorithm=ALGORITHM)

    def verify(self, token: str) -> LinkClaims:
        try:
            # Expiry is checked against the platform's clock below, not the machine's.
            raw = jwt.decode(token, self._key, algorithms=[ALGORITHM], audience=AUDIENCE, options={"verify_exp": False})
            claims = msgspec.convert({k: v for k, v in raw.items() if k != "aud"}, LinkClaims)
        except (jwt.PyJWTError, msgspec.ValidationError):
            raise not_found("This download link is not valid.") from None
        if claims.exp <= int(self.clock.now().timestamp()):
            raise ProblemError(
                410, "link-expired", "Link expired", "This download link has expired; export again for a new one."
            )
        return claims


def link_subject_id(claims: LinkClaims) -> uuid.UUID | None:
    return uuid.UUID(claims.sub) if claims.sub else None


def anonymous_or_system(claims: LinkClaims) -> Subject:
    return SYSTEM if claims.system else ANONYMOUS
