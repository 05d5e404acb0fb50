"""Secrets at rest: new tokens, keyed hashes to look them up, sealing what must be shown again.

Tokens are looked up by HMAC-SHA256 keyed with LOWKEY_SECRET_KEY, so a database copy
alone cannot be used to find or forge one. Values that must be shown again are sealed
with AES-GCM under a key derived (HKDF) from a secret the database does not hold.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

TOKEN_BYTES = 24  # 192 bits of randomness; the SPEC asks for at least 128
NONCE_BYTES = 12


class SealError(ValueError):
    """A sealed value could not be opened (wrong key or tampered bytes)."""


def new_token(prefix: str = "") -> str:
    """A fresh URL-safe secret token, optionally with a readable prefix (`lk_org_…`)."""
    return prefix + secrets.token_urlsafe(TOKEN_BYTES)


def token_hash(secret_key: str, token: str, *, purpose: str) -> bytes:
    """The keyed hash a token is stored and looked up by; `purpose` separates token kinds."""
    return hmac.new(secret_key.encode(), f"{purpose}\x00{token}".encode(), hashlib.sha256).digest()


def _derive_key(*parts: str, purpose: str) -> bytes:
    material = "\x00".join(parts).encode()
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=purpose.encode())
    return hkdf.derive(material)


def seal(plaintext: bytes, *key_parts: str, purpose: str) -> bytes:
    """Encrypt with AES-GCM under a key derived from key_parts; nonce is prepended."""
    nonce = os.urandom(NONCE_BYTES)
    key = _derive_key(*key_parts, purpose=purpose)
    return nonce + AESGCM(key).encrypt(nonce, plaintext, purpose.encode())


def unseal(sealed: bytes, *key_parts: str, purpose: str) -> bytes:
    key = _derive_key(*key_parts, purpose=purpose)
    try:
        return AESGCM(key).decrypt(sealed[:NONCE_BYTES], sealed[NONCE_BYTES:], purpose.encode())
    except (InvalidTag, ValueError) as exc:
        raise SealError("sealed value could not be opened") from exc


def constant_time_equals(a: str, b: str) -> bool:
    return hmac.compare_digest(a.encode(), b.encode())
