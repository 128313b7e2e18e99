"""Time-based one-time passwords (RFC 6238) for two-factor sign-in, read against the injected clock."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pyotp

DIGITS = 6
#: Codes of the step before and after the current one are accepted too: phone clocks drift.
VALID_WINDOW = 1


def new_secret() -> str:
    return pyotp.random_base32()


def provisioning_uri(secret: str, account: str, issuer: str) -> str:
    """The ``otpauth://`` URI an authenticator app reads (usually from a QR code)."""
    return pyotp.TOTP(secret, digits=DIGITS).provisioning_uri(name=account, issuer_name=issuer)


def well_formed(code: Any) -> bool:
    return isinstance(code, str) and len(code) == DIGITS and code.isascii() and code.isdigit()


def verify(secret: str, code: Any, now: datetime) -> bool:
    if not well_formed(code):
        return False
    return pyotp.TOTP(secret, digits=DIGITS).verify(code, for_time=now, valid_window=VALID_WINDOW)
