"""Unit tests of the envelope, its times, the type registry and the built-in bodies."""

from __future__ import annotations

import copy
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import BaseModel, ConfigDict

from federation import keys, registry, signing
from federation.bodies import BUILTIN_BODIES, ListingBody
from federation.envelope import (
    MAX_TTL,
    EnvelopeError,
    addressed_to,
    check_time,
    envelope_text,
    format_time,
    make_envelope,
    parse,
    parse_text,
    parse_time,
)
from federation.identity import LocalIdentity

CELL = "881f1d4815fffff"


def identity() -> LocalIdentity:
    key = keys.generate()
    public = signing.public_key_text(key)
    return LocalIdentity(keys.node_id_for(public), key, public)


def listing(**changes: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "listing_id": str(uuid.uuid4()),
        "category": "food",
        "title": "Rice",
        "quantity": 2,
        "unit": "kg",
        "urgency": "urgent",
        "h3_cell": CELL,
        "handle": "ana",
    }
    body.update(changes)
    return body


ME = identity()


def envelope(**changes: Any) -> dict[str, Any]:
    doc = make_envelope(ME, "need.published", listing(), 7)
    doc.update(changes)
    return doc


# --- time -------------------------------------------------------------------------------


def test_times_round_trip_in_utc_with_z() -> None:
    moment = datetime(2026, 5, 1, 12, 0, 0, 250000, tzinfo=UTC)
    assert format_time(moment) == "2026-05-01T12:00:00.25Z"
    assert format_time(moment.replace(microsecond=0)) == "2026-05-01T12:00:00Z"
    assert parse_time("2026-05-01T12:00:00.25Z") == moment
    assert parse_time("2026-05-01T14:00:00.250000+02:00") == moment
    assert parse_time("2026-05-01t12:00:00.250000001z") == moment


@pytest.mark.parametrize(
    "text",
    [
        "2026-05-01T12:00:00",
        "2026-05-01",
        "2026-02-30T00:00:00Z",
        "2026-05-01 12:00:00Z",
        "2026-05-01T12:00:00+24:00",
        1714564800,
        None,
        "",
    ],
)
def test_times_without_a_zone_or_impossible_are_refused(text: Any) -> None:
    with pytest.raises(ValueError):
        parse_time(text)


def test_naive_times_are_never_formatted() -> None:
    with pytest.raises(ValueError):
        format_time(datetime(2026, 5, 1))


# --- building and parsing ---------------------------------------------------------------


def test_a_built_envelope_is_signed_and_parses() -> None:
    doc = envelope()
    signing.verify(doc, ME.public_key)
    parsed = parse(doc)
    assert parsed.sender == ME.node_id and parsed.seq == 7 and parsed.type == "need.published"
    assert parsed.audience == ("*",) and parsed.priority == 0
    assert parsed.expires - parsed.created == timedelta(days=90)
    assert parse_text(envelope_text(doc)) == parsed


def test_building_refuses_a_body_that_does_not_fit_its_type() -> None:
    with pytest.raises(EnvelopeError) as err:
        make_envelope(ME, "need.published", listing(quantity=-1), 1)
    assert err.value.reason == "invalid-body" and "quantity" in err.value.detail
    with pytest.raises(EnvelopeError) as err:
        make_envelope(ME, "no.such", {}, 1)
    assert err.value.reason == "unknown-type"
    with pytest.raises(ValueError):
        make_envelope(ME, "need.published", listing(), 0)
    with pytest.raises(ValueError):
        make_envelope(ME, "need.published", listing(), 1, ttl=MAX_TTL + timedelta(seconds=1))


def test_key_rotation_always_travels_in_the_priority_lane() -> None:
    body = {
        "new_key": identity().public_key,
        "old_key": ME.public_key,
        "old_valid_until": "2030-01-01T00:00:00Z",
    }
    assert make_envelope(ME, "node.key_rotated", body, 3)["priority"] == 1


@pytest.mark.parametrize(
    "change, fault",
    [
        ({"v": 2}, "v:"),
        ({"id": "not-a-uuid"}, "id:"),
        ({"id": str(uuid.uuid1())}, "id:"),
        ({"type": "Need Published"}, "type:"),
        ({"sender": "someone"}, "sender:"),
        ({"seq": 0}, "seq:"),
        ({"seq": 2**53}, "seq:"),
        ({"seq": True}, "seq:"),
        ({"seq": "7"}, "seq:"),
        ({"created": "yesterday"}, "created:"),
        ({"audience": "*"}, "audience:"),
        ({"audience": ["everyone"]}, "audience:"),
        ({"priority": 2}, "priority:"),
        ({"body": []}, "body:"),
        ({"sig": 5}, "sig:"),
        ({"extra": 1}, "unknown fields: extra"),
    ],
)
def test_shape_faults_are_named_precisely(change: dict[str, Any], fault: str) -> None:
    with pytest.raises(EnvelopeError) as err:
        parse(envelope(**change))
    assert err.value.reason == "malformed"
    assert fault in err.value.detail


def test_missing_fields_and_non_objects_are_malformed() -> None:
    doc = envelope()
    del doc["sig"], doc["seq"]
    with pytest.raises(EnvelopeError, match="missing fields: seq, sig"):
        parse(doc)
    for value in ([], "x", None, 3):
        with pytest.raises(EnvelopeError, match="malformed"):
            parse(value)
    with pytest.raises(EnvelopeError, match="not JSON"):
        parse_text("{nope")


def test_expiry_must_follow_creation_within_the_limit() -> None:
    with pytest.raises(EnvelopeError, match="expires: must be later"):
        parse(envelope(expires=envelope()["created"]))
    with pytest.raises(EnvelopeError, match="at most 400 days"):
        parse(envelope(created="2026-01-01T00:00:00Z", expires="2027-06-01T00:00:00Z"))


def test_time_checks_expired_and_future_envelopes() -> None:
    parsed = parse(envelope())
    check_time(parsed)
    with pytest.raises(EnvelopeError) as err:
        check_time(parsed, parsed.expires)
    assert err.value.reason == "expired"
    with pytest.raises(EnvelopeError) as err:
        check_time(parsed, parsed.created - timedelta(minutes=6))
    assert err.value.reason == "not-yet-valid"


def test_audience() -> None:
    parsed = parse(envelope())
    assert addressed_to(parsed, {"x"})
    other = identity().node_id
    narrow = parse(envelope(audience=[other]))
    assert addressed_to(narrow, {other, "y"})
    assert not addressed_to(narrow, {ME.node_id})


def test_any_change_breaks_the_signature_and_reordering_does_not() -> None:
    doc = envelope()
    reordered = dict(reversed(list(doc.items())))
    signing.verify(reordered, ME.public_key)
    tampered = copy.deepcopy(doc)
    tampered["body"]["quantity"] = 200
    with pytest.raises(signing.SignatureError):
        signing.verify(tampered, ME.public_key)
    with pytest.raises(signing.SignatureError):
        signing.verify(doc, identity().public_key)


# --- bodies -----------------------------------------------------------------------------


def test_listing_bodies_are_strict_and_bounded() -> None:
    assert isinstance(registry.validate_body("need.published", listing()), ListingBody)
    cases = [
        (listing(name="Ana Smith"), "name: Extra inputs are not permitted"),
        (listing(quantity="2"), "quantity"),
        (listing(quantity=0), "quantity"),
        (listing(title="x" * 121), "title"),
        (listing(h3_cell="8b1f1d481400fff"), "finer than H3 resolution 10"),
        (listing(h3_cell="zzzzzzzzzzzzzzz"), "h3_cell"),
        (listing(handle="Ana Smith"), "handle"),
        (listing(expires="2026-05-01"), "expires"),
        (
            listing(available_from="2026-05-02T00:00:00Z", available_until="2026-05-01T00:00:00Z"),
            "available_until must be after available_from",
        ),
        (listing(urgency="whenever"), "urgency"),
    ]
    for body, fault in cases:
        with pytest.raises(EnvelopeError) as err:
            registry.validate_body("need.published", body)
        assert err.value.reason == "invalid-body"
        assert fault in err.value.detail, (fault, err.value.detail)


def test_every_builtin_type_is_registered_with_its_body() -> None:
    registered = {entry.name: entry.model for entry in registry.all_types()}
    for name, model in BUILTIN_BODIES.items():
        assert registered[name] is model


class Motion(BaseModel):
    """A test-only type, as another package would add one."""

    model_config = ConfigDict(extra="forbid", strict=True)
    text: str


def test_other_packages_register_types() -> None:
    def handler(ctx: registry.ApplyContext, body: Motion) -> str:
        return "applied"

    registry.register("motion.tabled", Motion, handler, ttl=timedelta(days=2))
    registry.register("motion.tabled", Motion, handler, ttl=timedelta(days=2))  # again: harmless
    doc = make_envelope(ME, "motion.tabled", {"text": "hello"}, 9)
    assert parse(doc).expires - parse(doc).created == timedelta(days=2)
    assert registry.validate_body("motion.tabled", {"text": "hi"}) == Motion(text="hi")

    class Other(Motion):
        pass

    with pytest.raises(ValueError, match="already registered"):
        registry.register("motion.tabled", Other, handler)
    with pytest.raises(ValueError, match="not a valid envelope type"):
        registry.register("Motion", Motion, handler)


def test_the_protocol_document_embeds_the_current_body_schemas() -> None:
    from pathlib import Path

    from federation.schemas import BEGIN, END, markdown

    text = (Path(__file__).parents[2] / "docs" / "protocol.md").read_text()
    embedded = text[text.index(BEGIN) : text.index(END) + len(END)] + "\n"
    assert embedded == markdown(), "run `python -m federation.schemas` and paste it into docs/protocol.md"


def test_an_empty_audience_means_everyone() -> None:
    assert addressed_to(parse(envelope(audience=[])), {"x"})
