"""Sign-in of readers and coordinators with a PIN; role checks used by the other services.

PINs are hashed with ``hashlib.scrypt`` and a random 16-byte salt; the encoded string
``scrypt$n$r$p$salt_hex$hash_hex`` is what ``reader.pin_hash`` stores. A PIN is never stored,
returned or logged in clear, and hashes are compared in constant time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from readerstudy.core.errors import ValidationError

_N, _R, _P, _DKLEN = 2**14, 8, 1, 32
_SCHEME = "scrypt"


def _derive(pin: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    return hashlib.scrypt(pin.encode("utf-8"), salt=salt, n=n, r=r, p=p, dklen=_DKLEN, maxmem=64 * 1024 * 1024)


def hash_pin(pin: str) -> str:
    """Hash a PIN for storage in ``reader.pin_hash``.

    Parameters
    ----------
    pin : str
        The PIN as typed (at least 4 characters).

    Returns
    -------
    str
        ``"scrypt$<n>$<r>$<p>$<salt hex>$<hash hex>"``; a new random salt on every call.
    """
    if not isinstance(pin, str) or len(pin) < 4:
        raise ValidationError("A PIN must have at least 4 characters; choose a longer PIN.")
    salt = secrets.token_bytes(16)
    digest = _derive(pin, salt, _N, _R, _P)
    return f"{_SCHEME}${_N}${_R}${_P}${salt.hex()}${digest.hex()}"


def verify_pin(pin: str, encoded: str) -> bool:
    """True if ``pin`` matches ``encoded`` (from :func:`hash_pin`); constant-time comparison."""
    try:
        scheme, n, r, p, salt_hex, hash_hex = encoded.split("$")
        if scheme != _SCHEME:
            return False
        expected = bytes.fromhex(hash_hex)
        actual = _derive(pin, bytes.fromhex(salt_hex), int(n), int(r), int(p))
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(actual, expected)
