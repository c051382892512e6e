"""The signed documents on their own: shapes, signatures that survive any re-serialisation, and
which votes a mandate's positions allow."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from delegates import client, documents
from delegates.council import check_within_mandate, position_for
from delegates.documents import ActDoc, MandateDoc, RecallDoc
from delegates.errors import Refused
from delegates.models import CouncilProposal, Mandate
from federation import keys, signing
from node.assemblies.methods import Method
from node.db import utcnow

NODE = keys.node_id_for(signing.public_key_text(keys.generate()))
FEDERATION = keys.node_id_for(signing.public_key_text(keys.generate()))


def credential(**changes: Any) -> dict[str, Any]:
    _, public = client.make_key()
    now = utcnow()
    doc = documents.mandate_document(
        mandate_id=documents.new_uuid(),
        issuer=NODE,
        federation=FEDERATION,
        delegate="nadia",
        key=public,
        scope=["relief"],
        positions=[{"topic": "relief", "stance": "for"}],
        issued=now,
        expires=now + timedelta(days=30),
        decision=documents.new_uuid(),
    )
    doc.update(changes)
    return doc


def test_a_signature_survives_any_serialisation() -> None:
    key = keys.generate()
    signed = signing.sign(credential(), key)
    for text in (
        json.dumps(signed),
        json.dumps(signed, sort_keys=True, indent=2),
        json.dumps(dict(reversed(list(signed.items()))), separators=(",", ":")),
    ):
        signing.verify(json.loads(text), signing.public_key_text(key))
    tampered = dict(signed, scope=["relief", "budget"])
    with pytest.raises(signing.SignatureError):
        signing.verify(tampered, signing.public_key_text(key))


def test_mandate_shape() -> None:
    signed = signing.sign(credential(), keys.generate())
    assert documents.parse(MandateDoc, signed, "mandate").delegate == "nadia"
    bad_ones = (
        credential(scope=[]),
        credential(expires=credential()["issued"]),
        credential(delegate="Nadia!"),
        credential(id=str(uuid.uuid1())),
        credential(extra="x"),
        credential(issued="yesterday"),
    )
    for bad in bad_ones:
        with pytest.raises(Refused) as caught:
            documents.parse(MandateDoc, dict(bad, sig="x"), "mandate")
        assert caught.value.reason == "malformed-mandate"
    with pytest.raises(Refused):
        documents.parse(MandateDoc, "not an object", "mandate")


@pytest.mark.parametrize(
    "position",
    [
        {"stance": "for"},
        {"topic": "relief", "proposal": str(uuid.uuid4()), "stance": "for"},
        {"topic": "relief", "stance": "for", "allowed": ["for"]},
        {"topic": "relief", "stance": "maybe"},
    ],
)
def test_bad_positions(position: dict[str, Any]) -> None:
    with pytest.raises(Refused):
        documents.parse(MandateDoc, dict(credential(positions=[position]), sig="x"), "mandate")


def act(**fields: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "mandate_id": documents.new_uuid(),
        "federation": FEDERATION,
        "act": "vote",
        "created": utcnow(),
        "proposal": documents.new_uuid(),
        "stance": "for",
    }
    base.update(fields)
    return dict(documents.act_document(**base), sig="x")


def test_act_shape() -> None:
    assert documents.parse(ActDoc, act(), "act").stance is not None
    assert "title" not in act()  # absent, never null
    for bad in (
        act(stance=None),
        act(act="statement"),
        act(proposal=None),
        act(act="proposal", proposal=None, stance=None, title="t"),
        act(act="proposal", stance=None, title="t", topic="relief", text="x"),
        act(stance="maybe"),
    ):
        with pytest.raises(Refused) as caught:
            documents.parse(ActDoc, bad, "act")
        assert caught.value.reason == "malformed-act"
    proposal = act(act="proposal", proposal=None, stance=None, title="Gym", topic="housing", text="Open it.")
    assert documents.parse(ActDoc, proposal, "act").topic == "housing"


def test_recall_needs_its_decision() -> None:
    recall = documents.recall_document(
        mandate_id=documents.new_uuid(),
        issuer=NODE,
        federation=FEDERATION,
        decision=documents.new_uuid(),
        reason="r",
        recalled=utcnow(),
    )
    assert documents.parse(RecallDoc, dict(recall, sig="x"), "recall").reason == "r"
    without = {k: v for k, v in recall.items() if k != "decision"}
    with pytest.raises(Refused) as caught:
        documents.parse(RecallDoc, dict(without, sig="x"), "recall")
    assert caught.value.reason == "malformed-recall"


def test_positions_a_mandate_allows() -> None:
    proposal = CouncilProposal(id=uuid.uuid4(), topic="relief", method=Method.MAJORITY)
    other = CouncilProposal(id=uuid.uuid4(), topic="budget", method=Method.MAJORITY)
    mandate = Mandate(
        scope=["relief"],
        positions=[
            {"topic": "relief", "stance": "for"},
            {"proposal": str(proposal.id), "stance": "free", "allowed": ["against", "abstain"]},
            {"proposal": str(other.id), "stance": "abstain"},
        ],
    )
    assert position_for(mandate, proposal) == mandate.positions[1]  # the proposal's own wins

    def judge(target: CouncilProposal, stance: str) -> str | None:
        doc = documents.parse(ActDoc, act(proposal=str(target.id), stance=stance), "act")
        try:
            check_within_mandate(mandate, target, doc)
        except Refused as exc:
            return exc.reason
        return None

    assert judge(proposal, "against") is None
    assert judge(proposal, "for") == "against-mandate"
    assert judge(other, "abstain") is None  # outside the scope's topics, but named by a position
    assert judge(other, "for") == "against-mandate"
    free = Mandate(scope=["relief"], positions=[])
    check_within_mandate(free, proposal, documents.parse(ActDoc, act(stance="against"), "act"))
    with pytest.raises(Refused) as caught:
        check_within_mandate(free, other, documents.parse(ActDoc, act(stance="for"), "act"))
    assert caught.value.reason == "out-of-scope"
