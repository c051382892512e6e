"""Signatures over RFC 8785 canonical JSON, shared by envelopes, mandates and delegates' acts.

Keys and signatures travel as unpadded base64url. Every signed document is a JSON object with a
`sig` member; the signature covers the canonical form of the object without `sig`.
"""

from __future__ import annotations

import base64
import functools
from typing import TYPE_CHECKING, Any

import rfc8785

# cryptography (some 9 MB) is imported where keys are used: a web process that serves only
# members' requests never loads it.
if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

SIG_FIELD = "sig"


class SignatureError(Exception):
    """A document's signature is missing, malformed or does not verify."""


def b64encode(raw: bytes) -> str:
    """Unpadded base64url text of `raw`."""
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def b64decode(text: str) -> bytes:
    """Bytes from unpadded (or padded) base64url text; ValueError when malformed."""
    if not isinstance(text, str) or not text or len(text) > 4096:
        raise ValueError("not base64url text")
    try:
        return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except (ValueError, TypeError) as exc:
        raise ValueError("not base64url text") from exc


def canonical(document: dict[str, Any]) -> bytes:
    """The RFC 8785 canonical JSON of a document without its signature."""
    unsigned = {key: value for key, value in document.items() if key != SIG_FIELD}
    try:
        return rfc8785.dumps(unsigned)
    except (rfc8785.CanonicalizationError, TypeError, ValueError) as exc:
        raise SignatureError(f"cannot canonicalise: {exc}") from exc


def public_key_text(key: Ed25519PublicKey | Ed25519PrivateKey) -> str:
    """The raw 32-byte public key as base64url text."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    public = key.public_key() if isinstance(key, Ed25519PrivateKey) else key
    return b64encode(public.public_bytes_raw())


def load_public_key(text: str) -> Ed25519PublicKey:
    """A public key from its base64url text; ValueError when malformed."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    raw = b64decode(text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 public key is 32 bytes")
    return Ed25519PublicKey.from_public_bytes(raw)


def sign(document: dict[str, Any], key: Ed25519PrivateKey) -> dict[str, Any]:
    """A copy of the document with `sig` set to the signature of its canonical form."""
    signed = {k: v for k, v in document.items() if k != SIG_FIELD}
    signed[SIG_FIELD] = b64encode(key.sign(canonical(signed)))
    return signed


def verify(document: dict[str, Any], public_key: str | Ed25519PublicKey) -> None:
    """Check the document's `sig` against a public key; raise SignatureError if it fails."""
    sig = document.get(SIG_FIELD)
    if not isinstance(sig, str):
        raise SignatureError("the signature is missing")
    try:
        raw_sig = b64decode(sig)
        key = load_public_key(public_key) if isinstance(public_key, str) else public_key
    except ValueError as exc:
        raise SignatureError(f"malformed signature or key: {exc}") from exc
    from cryptography.exceptions import InvalidSignature

    try:
        key.verify(raw_sig, canonical(document))
    except InvalidSignature as exc:
        raise SignatureError("the signature does not verify") from exc


def verify_any(document: dict[str, Any], public_keys: list[str]) -> str:
    """Check against several keys (current and retired); return the one that verified.

    The document is canonicalised once however many keys are tried, and each key's text is
    decoded once per process: receiving a batch checks thousands of envelopes of one sender."""
    from cryptography.exceptions import InvalidSignature

    failed = SignatureError("the signature does not verify with any key of the sender")
    sig = document.get(SIG_FIELD)
    if not public_keys or not isinstance(sig, str):
        raise failed
    try:
        raw_sig = b64decode(sig)
        message = canonical(document)
    except (ValueError, SignatureError):
        raise failed from None
    for text in public_keys:
        try:
            _public_key(text).verify(raw_sig, message)
        except (ValueError, InvalidSignature):
            continue
        return text
    raise failed


@functools.lru_cache(maxsize=1024)
def _public_key(text: str) -> Ed25519PublicKey:
    # Keys are immutable values: a retired key still decodes to the same key.
    return load_public_key(text)
