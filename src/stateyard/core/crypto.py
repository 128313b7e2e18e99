"""Cryptographic primitives: password hashing (argon2) and secrets at rest (Fernet).

The encryption key is derived from the instance secret with HKDF, so one secret in the
environment is all a deployment needs, and tokens and stored secrets use separate keys.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from cryptography.fernet import Fernet, InvalidToken
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def derive_key(secret: str, purpose: str, length: int = 32) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=length, salt=None, info=purpose.encode()).derive(secret.encode())


class Crypto:
    """Everything that turns a clear value into what may be stored, and back."""

    def __init__(self, secret: str, *, time_cost: int = 3, memory_kib: int = 65536) -> None:
        self._fernet = Fernet(base64.urlsafe_b64encode(derive_key(secret, "stateyard:encrypted-columns")))
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_kib)
        self.token_key = derive_key(secret, "stateyard:tokens")
        self._code_key = derive_key(secret, "stateyard:one-time-codes")
        #: Signs short-lived links (export downloads): a link is no token and a token no link.
        self.link_key = derive_key(secret, "stateyard:links")

    def hash_password(self, password: str) -> str:
        return self._hasher.hash(password)

    def verify_password(self, stored_hash: str | None, password: str) -> bool:
        if not stored_hash:
            # Spend the same time as a real check so that timing does not reveal unknown users.
            self._hasher.hash(password)
            return False
        try:
            return self._hasher.verify(stored_hash, password)
        except (VerificationError, InvalidHashError):
            return False

    def code_digest(self, code: str) -> str:
        """A keyed digest of a short one-time code (a reset code has few enough values to try them
        all against a plain hash; without the instance secret a leaked digest tells nothing)."""
        return hmac.new(self._code_key, code.encode(), hashlib.sha256).hexdigest()

    def code_matches(self, stored_digest: str | None, code: str) -> bool:
        return stored_digest is not None and hmac.compare_digest(stored_digest, self.code_digest(code))

    def encrypt(self, clear: str) -> str:
        return self._fernet.encrypt(clear.encode()).decode()

    def decrypt(self, stored: str) -> str | None:
        """The clear value, or ``None`` if it was encrypted under another key."""
        try:
            return self._fernet.decrypt(stored.encode()).decode()
        except InvalidToken:
            return None
