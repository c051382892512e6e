"""Offline bundles: when links are down, a node writes its envelopes to a file that another
node imports from a USB stick.

A bundle is JSON Lines: the first line is a manifest signed by the exporting node (its id, when,
how many envelopes, the SHA-256 of the envelope lines), every further line is one envelope as
it was signed. Importing judges each envelope with the inbox's own `Receiver` (origin
"bundle"), so exactly the inbox's checks apply: a forged or tampered envelope is refused with
its reason and the good ones apply. The manifest tells whether the file is whole; the
envelopes' own signatures decide what is applied.
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import or_, select

from federation import signing
from federation.envelope import format_time, now
from federation.identity import local_identity
from federation.inbox import Receiver, Result
from federation.models import Envelope, EnvelopeOrigin, PeerKey
from node.db import session_scope

FORMAT = "mutualaid-bundle"
CHUNK = 200


@dataclass
class ImportSummary:
    """What an import did: the manifest's verdict and a count and the refusals by reason."""

    manifest: str
    sender: str | None = None
    total: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    refused: list[Result] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready summary."""
        return {"manifest": self.manifest, "sender": self.sender, "total": self.total,
                "statuses": dict(self.statuses), "refused": [r.as_dict() for r in self.refused]}


def export(app: Flask, path: Path, since: int = 0, everything: bool = False) -> int:
    """Write this node's envelopes after seq `since` (and with `everything`, all the envelopes
    of other nodes it holds) to `path` as a signed bundle; returns how many."""
    identity = local_identity(app)
    with session_scope(app) as db:
        query = select(Envelope.raw).where(Envelope.expires > now())
        own = (Envelope.sender == identity.node_id) & (Envelope.seq > since)
        query = query.where(or_(own, Envelope.sender != identity.node_id) if everything else own)
        lines = [_one_line(raw) for raw in db.scalars(query.order_by(Envelope.sender, Envelope.seq))]
    manifest = signing.sign({
        "format": FORMAT, "v": 1, "sender": identity.node_id, "created": format_time(now()),
        "since": since, "count": len(lines), "sha256": _digest(lines),
    }, identity.key)
    with path.open("w", encoding="utf-8") as out:
        out.write(json.dumps(manifest, separators=(",", ":")) + "\n")
        for line in lines:
            out.write(line + "\n")
    return len(lines)


def import_bundle(app: Flask, path: Path, progress: Callable[[int], None] | None = None) -> ImportSummary:
    """Apply a bundle's envelopes with the inbox's checks, in chunks; nothing half-applied."""
    lines = path.read_text(encoding="utf-8").splitlines()
    if not lines:
        return ImportSummary(manifest="missing: the file is empty")
    summary = ImportSummary(manifest="", total=len(lines) - 1)
    with session_scope(app) as db:
        summary.manifest, summary.sender = _check_manifest(db, lines[0], lines[1:])
    for chunk in _chunks(lines[1:], CHUNK):
        values = [_value(line) for line in chunk]
        with session_scope(app) as db:
            receiver = Receiver(db, app, EnvelopeOrigin.BUNDLE)
            results = receiver.receive_batch(values)
        for result in results:
            summary.statuses[result.status] += 1
            if result.status == "rejected":
                summary.refused.append(result)
        if progress:
            progress(len(chunk))
    return summary


def _check_manifest(db: Any, first: str, envelopes: list[str]) -> tuple[str, str | None]:
    try:
        manifest = json.loads(first)
        sender = manifest["sender"]
        if manifest.get("format") != FORMAT:
            return "malformed: not a mutualaid bundle", None
    except (ValueError, KeyError, TypeError):
        return "malformed: the first line is not a manifest", None
    keys = list(db.scalars(select(PeerKey.public_key).where(PeerKey.peer_id == sender)))
    if not keys:
        return "unknown-sender: the bundle's node is not known here", sender
    try:
        signing.verify_any(manifest, keys)
    except signing.SignatureError:
        return "bad-signature: the manifest is not signed by its node", sender
    if manifest.get("count") != len(envelopes) or manifest.get("sha256") != _digest(envelopes):
        return "tampered: the envelopes differ from what the manifest signed", sender
    return "ok", sender


def _value(line: str) -> Any:
    # A line that is not JSON goes to the receiver as it is, which refuses it as malformed.
    try:
        return json.loads(line)
    except ValueError:
        return line


def _one_line(raw: str) -> str:
    return json.dumps(json.loads(raw), ensure_ascii=False, separators=(",", ":"))


def _digest(lines: list[str]) -> str:
    return hashlib.sha256("\n".join(lines).encode("utf-8")).hexdigest()


def _chunks(items: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(items), size):
        yield items[start:start + size]
