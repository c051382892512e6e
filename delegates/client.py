"""What a delegate's own device does: make a key pair and sign acts with the private half,
which never goes to any node. A command-line or phone client wraps these few functions."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from delegates import documents
from federation import signing
from node.db import utcnow

if TYPE_CHECKING:  # cryptography is loaded where keys are used (federation.signing says why)
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey


def make_key() -> tuple[str, str]:
    """A new key pair as (private, public) base64url text; register only the public half."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    return signing.b64encode(key.private_bytes_raw()), signing.public_key_text(key)


def load_key(private_text: str) -> Ed25519PrivateKey:
    """The private key from the base64url text of its 32 bytes."""
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    raw = signing.b64decode(private_text)
    if len(raw) != 32:
        raise ValueError("an Ed25519 private key is 32 bytes")
    return Ed25519PrivateKey.from_private_bytes(raw)


def sign_act(
    private_text: str, credential: dict[str, Any], act: str, *, proposal: str | None = None,
    stance: str | None = None, text: str = "", title: str | None = None, topic: str | None = None,
) -> dict[str, Any]:
    """An act under the mandate the credential describes, signed with the delegate's key."""
    document = documents.act_document(
        mandate_id=credential["id"], federation=credential["federation"], act=act, created=utcnow(),
        proposal=proposal, stance=stance, text=text, title=title, topic=topic,
    )
    return signing.sign(document, load_key(private_text))


def vote(private_text: str, credential: dict[str, Any], proposal: str, stance: str,
         reason: str = "") -> dict[str, Any]:
    """A signed vote on a council proposal."""
    return sign_act(private_text, credential, "vote", proposal=proposal, stance=stance, text=reason)
