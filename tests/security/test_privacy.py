"""The privacy proof: a whole region of real node processes lives through a storm, and nothing a
node sent carries a member's name, email, phone or street address, or an H3 cell finer than the
sender's configured resolution; and no log of any node holds a key, secret, token or password.

A federation and three neighbourhoods (web process and worker each, on loopback). Members with
names, emails, phones and a street address in their profile post needs and offers placed at
street-level H3 cells (resolution 11 and 12); a local match is made and accepted; an assembly
elects a delegate whose mandate goes to the federation; the federation declares an incident;
one neighbourhood pledges against another's need and the owner accepts. Then every envelope
every node holds (what it published and what it received or relayed, which is also what its
signed feed serves) is scanned. Any finding fails the test.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import h3
import pytest

from tests.harness import PASSWORD, Cluster, HarnessError, NodeProcess, wait_until

pytestmark = pytest.mark.e2e
WAIT = 120
RESOLUTION = 8  # every node's configured h3_resolution (the default)
H3_LIKE = re.compile(r"\b[0-9a-f]{15}\b")
# Where each neighbourhood is: members sit at street-level cells around these points.
PLACES = {"riverside": (50.9413, 6.9583), "hillside": (50.9262, 6.9371), "harbour": (50.9510, 6.9900)}


@dataclass
class Person:
    """A member as their node knows them: everything here but the handle must stay home."""

    handle: str
    name: str
    email: str
    phone: str
    street: str
    api: NodeProcess
    need_id: str = ""
    offer_id: str = ""

    def private(self) -> list[str]:
        return [self.name, self.email, self.phone, self.street, self.email.split("@")[0]]


PEOPLE = {
    "riverside": [("maro", "Marguerite Okonkwo-Lindqvist", "+49 221 555 0101", "Vogelsanger Strasse 17"),
                  ("bilal", "Bilal Haddad-Ferreira", "+49 221 555 0102", "Subbelrather Strasse 230"),
                  ("ines", "Ines Wojciechowska", "+49 221 555 0103", "Leyendeckerstrasse 9")],
    "hillside": [("theo", "Theodora Papadimitriou", "+49 221 555 0201", "Zuelpicher Wall 4"),
                 ("kwame", "Kwame Asante-Brenner", "0221 555 0202", "Dasselstrasse 81")],
    "harbour": [("yuki", "Yukiko Barthelmess", "(0221) 555-0301", "Deutzer Freiheit 112"),
                ("oskar", "Oskar Nieminen-Rhodes", "+49 221 555 0302", "Siegburger Strasse 3")],
}


def add_person(node: NodeProcess, handle: str, name: str, phone: str, street: str) -> Person:
    """A member with a token, a phone and a street address in their profile."""
    from node import create_app
    from node.db import session_scope
    from node.members import service

    email = f"{handle}.{node.name}@mail.example.net"
    app = create_app({"instance_path": node.instance})
    try:
        with session_scope(app) as db:
            member = service.create_member(db, handle, name, email, PASSWORD)
            _, token = service.create_token(db, member, "privacy")
    finally:
        app.extensions["db"].dispose()
    api = NodeProcess(f"{node.name}:{handle}", node.instance, node.port, node.settings, token=token,
                      node_id=node.node_id)
    bio = f"Ring twice at {street}, call {phone} or write to {email}."
    api.api("PATCH", "/me", {"phone": phone, "bio": bio}, expect=200)
    return Person(handle, name, email, phone, street, api)


def street_cell(place: str, n: int) -> str:
    """A street-level cell near a neighbourhood: resolution 11 or 12."""
    lat, lng = PLACES[place]
    return str(h3.latlng_to_cell(lat + n * 0.0007, lng - n * 0.0005, 11 + n % 2))


@pytest.fixture
def region(tmp_path: Path) -> Iterator[tuple[Cluster, dict[str, NodeProcess]]]:
    cluster = Cluster(tmp_path / "nodes", log_level="INFO")  # logs at INFO: the secrets scan reads them
    try:
        area = sorted({str(c) for lat, lng in PLACES.values()
                       for c in h3.grid_disk(h3.latlng_to_cell(lat, lng, 6), 1)})
        nodes = {"region": cluster.add("region", role="federation", federation_area_cells=area)}
        nodes |= {name: cluster.add(name) for name in PLACES}
        cluster.setup(*nodes.values())
        cluster.start(*nodes.values())
        cluster.federate(nodes["region"], [nodes[name] for name in PLACES])
        yield cluster, nodes
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{cluster.logs()}") from None
    finally:
        cluster.close()


def elect(node: NodeProcess, people: list[Person], federation: str) -> str:
    """An assembly of the node elects its second person as delegate; returns the mandate id."""
    delegate = people[1]
    assembly = node.api("POST", "/assemblies", {"title": "Storm assembly", "method": "majority"},
                        expect=201)
    if assembly["status"] == "scheduled":
        node.api("POST", f"/assemblies/{assembly['id']}/open", expect=200)
    body = {"delegate": delegate.handle, "federation": federation, "scope": ["relief"], "term_days": 30,
            "positions": [{"topic": "relief", "stance": "free", "allowed": ["for", "against"]}]}
    proposal = node.api("POST", f"/assemblies/{assembly['id']}/mandate-proposals", body, expect=201)
    for voter in people:
        voter.api.api("POST", f"/proposals/{proposal['id']}/positions", {"stance": "for"}, expect=201)
    assert node.api("POST", f"/proposals/{proposal['id']}/close", expect=200)["outcome"] == "passed"
    mandate = delegate.api.api("GET", "/mandates?mine=true", expect=200)["items"][0]
    delegate.api.api("POST", f"/mandates/{mandate['id']}/key", {}, expect=201)
    return str(mandate["id"])


def live_through_a_storm(nodes: dict[str, NodeProcess]) -> tuple[list[Person], dict[str, Any]]:
    """The scenario; returns the people and the ids the waits need."""
    hub = nodes["region"]
    for name in PLACES:  # introductions: every neighbourhood learns of the others
        others = [nodes[o].node_id for o in PLACES if o != name]
        wait_until(lambda n=nodes[name], o=others: all(  # type: ignore[misc]
            n.scalar("SELECT count(*) FROM federation_peers WHERE id = :id", id=i) for i in o),
            WAIT, f"{name} to be introduced to the other neighbourhoods")
    people = {place: [add_person(nodes[place], *row) for row in rows] for place, rows in PEOPLE.items()}
    for place, members in people.items():
        for n, person in enumerate(members):
            person.need_id = person.api.api("POST", "/needs", {
                "category": "food", "title": f"Rice and lentils for {place}", "quantity": 4 + n, "unit": "kg",
                "urgency": "urgent", "h3_cell": street_cell(place, n),
                "description": "For a family sheltering from the storm."}, expect=201)["id"]
            person.offer_id = person.api.api("POST", "/offers", {
                "category": "food", "title": f"Canned beans from {place}", "quantity": 6, "unit": "kg",
                "h3_cell": street_cell(place, n + 3)}, expect=201)["id"]
    wait_until(lambda: all(shared(nodes, people, place) for place in PLACES), WAIT,
               "every neighbourhood to see the others' needs and offers")
    # A local match with contact details in its note, accepted by the other party.
    maro, bilal = people["riverside"][0], people["riverside"][1]
    note = f"Come to {maro.street}, call {maro.phone}"
    body = {"need_id": bilal.need_id, "offer_id": maro.offer_id, "note": note}
    match = maro.api.api("POST", "/matches", body, expect=201)
    bilal.api.api("POST", f"/matches/{match['id']}/accept", expect=200)
    mandate = elect(nodes["riverside"], people["riverside"], hub.node_id)
    # The federation's steward starts its rapid-response team (and so is on it), which may
    # declare an incident under the emergency rule.
    hub.api("POST", "/projects", {"name": "Rapid response", "slug": "rapid-response",
                                  "template": "rapid_response", "create_shifts": False}, expect=201)
    now = datetime.now(UTC)
    district = sorted({str(h3.latlng_to_cell(lat, lng, 7)) for lat, lng in PLACES.values()})
    incident = hub.api("POST", "/incidents", {
        "kind": "storm", "title": "Storm over the three neighbourhoods", "cells": district,
        "starts": (now - timedelta(hours=1)).isoformat(), "ends": (now + timedelta(days=2)).isoformat(),
        "emergency": True}, expect=201)
    # Hillside pledges against Riverside's third need.
    theo = people["hillside"][0]
    pledge = theo.api.api("POST", "/pledges", {
        "owner": nodes["riverside"].node_id, "listing_id": people["riverside"][2].need_id,
        "listing_kind": "need", "quantity": 2, "unit": "kg",
        "note": "Two kilos of rice from the hillside pantry."}, expect=201)
    everyone = [person for members in people.values() for person in members]
    return everyone, {"mandate": mandate, "incident": incident["id"], "pledge": pledge["id"]}


def shared(nodes: dict[str, NodeProcess], people: dict[str, list[Person]], place: str) -> bool:
    """Whether a neighbourhood holds every need and offer the other neighbourhoods posted."""
    page = nodes[place].api("GET", "/network/listings?per_page=100")["items"]
    seen = {item["listing_id"] for item in page}
    wanted = {i for other in PLACES if other != place for p in people[other] for i in (p.need_id, p.offer_id)}
    return wanted <= seen


def settled(nodes: dict[str, NodeProcess], ids: dict[str, Any]) -> bool:
    """Whether the incident, the mandate and the pledge have arrived where they were going."""
    for name in PLACES:
        if not any(i["id"] == ids["incident"] for i in nodes[name].api("GET", "/incidents")["items"]):
            return False
    if nodes["region"].api("GET", "/mandates")["total"] < 1:
        return False
    pledges = nodes["hillside"].api("GET", "/pledges")["items"]
    return any(p["id"] == ids["pledge"] and p["status"] == "accepted" for p in pledges)


def sent_by_everyone(nodes: dict[str, NodeProcess]) -> list[tuple[str, str, dict[str, Any]]]:
    """Every envelope any node holds, as (where, sender, envelope): what it published, and what
    it received or relayed. A node's signed feed serves these same stored texts, so this is
    also everything any feed can give out."""
    found: list[tuple[str, str, dict[str, Any]]] = []
    for node in nodes.values():
        for sender, raw in node.rows("SELECT sender, raw FROM federation_envelopes ORDER BY sender, seq"):
            found.append((node.name, sender, json.loads(raw)))
    return found


def secrets_of(node: NodeProcess) -> list[str]:
    """Every form in which a node's private key, secret key or steward token could leak."""
    from cryptography.hazmat.primitives import serialization

    from federation import keys, signing
    from node.settings import SECRET_FILE

    pem = (node.instance / keys.KEY_FILE).read_text()
    raw = keys.load(node.instance / keys.KEY_FILE).private_bytes(
        serialization.Encoding.Raw, serialization.PrivateFormat.Raw, serialization.NoEncryption())
    body = "".join(pem.splitlines()[1:-1])
    return [body[:40], signing.b64encode(raw), raw.hex(), (node.instance / SECRET_FILE).read_text().strip(),
            node.token]


def strings_in(value: Any) -> Iterator[str]:
    """Every string in a JSON value, keys included."""
    if isinstance(value, str):
        yield value
    elif isinstance(value, dict):
        for key, item in value.items():
            yield key
            yield from strings_in(item)
    elif isinstance(value, list):
        for item in value:
            yield from strings_in(item)


def findings(envelopes: list[tuple[str, str, dict[str, Any]]], people: list[Person]) -> tuple[list[str], int]:
    """What leaked, and how many H3 cells were checked."""
    found: list[str] = []
    cells = 0
    secrets = [(person.handle, secret.lower()) for person in people for secret in person.private()]
    secrets += [("password", PASSWORD.lower())]
    for where, sender, envelope in envelopes:
        label = f"{where}: {envelope.get('type')} {sender[:12]}#{envelope.get('seq')}"
        text = json.dumps(envelope, ensure_ascii=False).lower()
        found += [f"{label} carries {whose}'s {secret!r}" for whose, secret in secrets if secret in text]
        digits = re.sub(r"\D", "", text)
        found += [f"{label} carries {person.handle}'s phone digits" for person in people
                  if re.sub(r"\D", "", person.phone)[-9:] in digits]
        for string in strings_in(envelope):
            for candidate in H3_LIKE.findall(string):
                if h3.is_valid_cell(candidate):
                    cells += 1
                    if h3.get_resolution(candidate) > RESOLUTION:
                        found.append(f"{label} carries the resolution-{h3.get_resolution(candidate)} "
                                     f"cell {candidate}")
    return found, cells


def test_nothing_personal_or_finer_than_the_resolution_leaves_any_node_of_a_region(
    region: tuple[Cluster, dict[str, NodeProcess]],
) -> None:
    cluster, nodes = region
    try:
        people, ids = live_through_a_storm(nodes)
        wait_until(lambda: settled(nodes, ids), WAIT, "the storm's messages to reach every node")
    except HarnessError as exc:
        raise HarnessError(f"{exc}\n{cluster.logs()}") from None
    envelopes = sent_by_everyone(nodes)
    types = {envelope["type"] for _where, _sender, envelope in envelopes}
    expected = {"need.published", "surplus.published", "mandate.issued", "incident.declared",
                "pledge.offered", "pledge.accepted", "peer.introduced"}
    assert expected <= types, sorted(types)
    assert {sender for _where, sender, _envelope in envelopes} == {node.node_id for node in nodes.values()}
    found, cells = findings(envelopes, people)
    assert found == []
    assert cells >= 14  # every listing's cell was checked (7 people, a need and an offer each)
    # Secrets: no node's key, secret or token, and no member's token or password, in any log.
    secrets = [secret for node in nodes.values() for secret in secrets_of(node)]
    secrets += [person.api.token for person in people] + [PASSWORD]
    logs = {f"{node.name}/{name}": (node.instance / name).read_text(errors="replace")
            for node in nodes.values() for name in ("web.log", "worker.log")}
    assert sum(len(text) for text in logs.values()) > 0
    assert [(where, secret[:8]) for where, text in logs.items() for secret in secrets if secret in text] == []


def test_the_scan_finds_what_it_looks_for() -> None:
    """The scanner itself: a leaked name, email, phone (however written), street or fine cell is
    each found, and a coarse cell and a handle are not."""
    node = NodeProcess("n", Path("."), 0, {})
    ana = Person("ana", "Ana Lopez-Sorensen", "ana.n@mail.example.net", "+49 221 555 0199", "Mill Lane 3",
                 node)
    fine = str(h3.latlng_to_cell(50.94, 6.96, 12))
    coarse = str(h3.cell_to_parent(fine, RESOLUTION))

    def scan(body: dict[str, Any]) -> list[str]:
        envelope = {"type": "need.published", "seq": 1, "body": {"handle": "ana", "h3_cell": coarse, **body}}
        return findings([("n", "sender", envelope)], [ana])[0]

    assert scan({}) == []
    for leak in ({"title": "for ana lopez-sorensen"}, {"contact": "ANA.N@mail.example.net"},
                 {"note": "call 0049 (221) 555-0199"}, {"where": "mill lane 3"}, {"cells": [fine]}):
        assert scan(leak), leak
