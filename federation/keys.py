"""The node's own Ed25519 key on disk, and the node id derived from it."""

from __future__ import annotations

import base64
import hashlib
import os
from pathlib import Path
from typing import TYPE_CHECKING

from federation.signing import load_public_key

if TYPE_CHECKING:  # cryptography is loaded where keys are used (federation.signing says why)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

KEY_FILE = "node_key.pem"
NODE_ID_PREFIX = "ma1"


class NodeKeyError(Exception):
    """The node key is missing, unreadable, or its file is open to other users."""


def node_id_for(public_key_text: str) -> str:
    """The node id for its first public key: stable across later key rotations."""
    raw = load_public_key(public_key_text).public_bytes_raw()
    digest = hashlib.sha256(raw).digest()[:20]
    return NODE_ID_PREFIX + base64.b32encode(digest).decode("ascii").lower().rstrip("=")


def fingerprint(public_key_text: str) -> str:
    """A short fingerprint of a public key to compare out of band (read it aloud, print it)."""
    raw = load_public_key(public_key_text).public_bytes_raw()
    digest = hashlib.sha256(raw).hexdigest()[:32]
    return ":".join(digest[i : i + 4] for i in range(0, len(digest), 4))


def generate() -> Ed25519PrivateKey:
    """A new Ed25519 private key."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    return Ed25519PrivateKey.generate()


def save(key: Ed25519PrivateKey, path: Path, passphrase: str | None = None) -> None:
    """Write the key as PKCS#8 PEM readable only by this user, encrypted if a passphrase is given."""
    from cryptography.hazmat.primitives import serialization

    encryption: serialization.KeySerializationEncryption = (
        serialization.BestAvailableEncryption(passphrase.encode())
        if passphrase
        else serialization.NoEncryption()
    )
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, encryption)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    os.replace(tmp, path)


def load(path: Path, passphrase: str | None = None) -> Ed25519PrivateKey:
    """Read the node key, refusing a file that other users can read."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    try:
        mode = path.stat().st_mode
    except FileNotFoundError as exc:
        raise NodeKeyError(f"no node key at {path}: run 'mutualaid init'") from exc
    if mode & 0o077:
        raise NodeKeyError(f"{path} is readable by other users: chmod 600 it")
    try:
        key = serialization.load_pem_private_key(
            path.read_bytes(), password=passphrase.encode() if passphrase else None
        )
    except (ValueError, TypeError) as exc:
        raise NodeKeyError(f"cannot read the node key at {path}: wrong passphrase or damaged file") from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise NodeKeyError(f"{path} is not an Ed25519 key")
    return key
