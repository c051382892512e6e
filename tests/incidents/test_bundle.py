"""Offline bundles: exported signed, imported with the inbox's checks; forgeries refused."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask
from sqlalchemy import select

from federation import signing
from federation.envelope import make_envelope
from federation.identity import LocalIdentity, local_identity
from federation.models import Envelope as EnvelopeRow
from federation.models import EnvelopeOrigin, RemoteListing
from node.cli import NodeContext, cli
from node.db import session_scope
from tests.federation.network import Network, member, row_counts
from tests.node.factories import need


def invoke(app: Flask, *args: str) -> Any:
    node = NodeContext(None)
    node._app = app
    return CliRunner().invoke(cli.commands[args[0]], list(args[1:]), obj=node)


def titles(app: Flask) -> list[str]:
    with session_scope(app) as db:
        return sorted(db.scalars(select(RemoteListing.title)))


def cut_off_pair(network: Network) -> tuple[Flask, Flask]:
    """Two peers whose link is down, a with three needs it could not send."""
    a, b = network.node("a"), network.node("b")
    network.peer("a", "b")
    network.down.add("b")
    ann = member(a, "ann")
    for title in ("Rice", "Water", "Blankets"):
        ann.post("/needs", json=need(title=title))
    return a, b


def test_a_bundle_carries_envelopes_across_a_cut_link(network: Network, tmp_path: Path) -> None:
    a, b = cut_off_pair(network)
    path = tmp_path / "a.bundle"
    exported = invoke(a, "bundle", "export", str(path))
    assert exported.exit_code == 0, exported.output
    assert "Wrote 3 envelope(s)" in exported.output

    imported = invoke(b, "bundle", "import", str(path))
    assert imported.exit_code == 0, imported.output
    assert "Manifest: ok. 3 envelope(s): 3 accepted." in imported.output
    assert titles(b) == ["Blankets", "Rice", "Water"]
    with session_scope(b) as db:
        assert set(db.scalars(select(EnvelopeRow.origin))) == {EnvelopeOrigin.BUNDLE}

    again = invoke(b, "bundle", "import", str(path))
    assert "3 envelope(s): 3 duplicate." in again.output
    since = invoke(a, "bundle", "export", str(tmp_path / "later.bundle"), "--since", "2")
    assert "Wrote 1 envelope(s)" in since.output


def test_forged_and_tampered_envelopes_are_refused_and_the_good_ones_apply(
    network: Network, tmp_path: Path
) -> None:
    a, b = cut_off_pair(network)
    path = tmp_path / "a.bundle"
    invoke(a, "bundle", "export", str(path))
    manifest, *lines = path.read_text().splitlines()

    tampered = json.loads(lines[0])
    tampered["body"]["quantity"] = 500  # changed after signing
    impostor_key = Ed25519PrivateKey.generate()
    forger = LocalIdentity(node_id=local_identity(a).node_id, key=impostor_key,
                           public_key=signing.public_key_text(impostor_key))
    forged = make_envelope(forger, "need.published", dict(json.loads(lines[1])["body"], title="Forged"), 99)
    path.write_text("\n".join([manifest, json.dumps(tampered), lines[1], lines[2], json.dumps(forged),
                               "not json"]) + "\n")
    before = row_counts(b)

    imported = invoke(b, "bundle", "import", str(path))
    assert imported.exit_code == 0, imported.output
    assert "Manifest: tampered: the envelopes differ from what the manifest signed." in imported.output
    assert "5 envelope(s): 2 accepted, 3 rejected." in imported.output
    assert imported.output.count(": bad-signature:") == 2
    assert ": malformed:" in imported.output
    after = row_counts(b)
    assert after["federation_remote_listings"] == before["federation_remote_listings"] + 2
    assert "Forged" not in titles(b) and len(titles(b)) == 2


def test_a_bundle_from_an_unknown_node_applies_nothing(network: Network, tmp_path: Path) -> None:
    a, _ = cut_off_pair(network)
    stranger = network.node("stranger")
    path = tmp_path / "a.bundle"
    invoke(a, "bundle", "export", str(path))
    imported = invoke(stranger, "bundle", "import", str(path))
    assert "Manifest: unknown-sender" in imported.output
    assert "3 envelope(s): 3 rejected." in imported.output
    assert titles(stranger) == []
