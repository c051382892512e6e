"""Adding peers by URL with an out-of-band fingerprint, blocking them, seeing their health;
the node document; the same from the command line against a real HTTP server."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask
from sqlalchemy import update
from werkzeug.serving import make_server

from federation import document, keys, signing
from federation.identity import local_identity
from federation.models import Peer
from node import create_app
from node.cli import cli
from node.db import session_scope, utcnow
from tests.federation.network import Network, member
from tests.node.factories import assert_problem, need


def steward(network: Network, name: str) -> Any:
    from node.members import service as members

    api = member(network.nodes[name], f"steward_{name}")
    with session_scope(network.nodes[name]) as db:
        members.grant_steward(db, network.nodes[name].config["MUTUALAID"], None, api.handle, 30, "test")
    return api


def test_the_node_document_is_signed_and_names_everything_a_peer_needs(network: Network) -> None:
    a = network.node("a", node_name="Kiez Nord")
    raw = a.test_client().get("/.well-known/mutualaid").get_json()
    checked = document.check(raw)
    identity = local_identity(a)
    assert (checked.id, checked.name, checked.role, checked.protocol) == (
        identity.node_id,
        "Kiez Nord",
        "neighbourhood",
        1,
    )
    assert checked.endpoints == {
        "inbox": "http://a.test/federation/inbox",
        "feed": "http://a.test/federation/feed",
        "document": "http://a.test/.well-known/mutualaid",
    }
    raw["name"] = "Someone else"
    try:
        document.check(raw)
    except document.DocumentError as exc:
        assert "not signed" in str(exc)
    else:
        raise AssertionError("a changed document must not pass")


def test_stewards_add_peers_only_with_the_right_fingerprint(network: Network) -> None:
    network.node("a")
    network.node("b")
    admin = steward(network, "a")
    wrong = keys.fingerprint(signing.public_key_text(keys.generate()))
    response = admin.post("/peers", json={"url": "http://b.test", "fingerprint": wrong})
    body = assert_problem(response, 422, "validation", "fingerprint")
    assert network.fingerprint("b") in body["errors"][0]["reason"]
    response = admin.post("/peers", json={"url": "http://nowhere.test", "fingerprint": wrong})
    assert_problem(response, 503, "unavailable")
    plain = member(network.nodes["a"], "plain")
    response = plain.post("/peers", json={"url": "http://b.test", "fingerprint": network.fingerprint("b")})
    assert_problem(response, 403, "forbidden")
    spaced = network.fingerprint("b").replace(":", " ").upper()
    response = admin.post("/peers", json={"url": "http://b.test/", "fingerprint": spaced})
    assert response.status_code == 201, response.get_json()
    peer = response.get_json()
    assert (peer["id"], peer["url"], peer["relation"], peer["status"], peer["health"], peer["pending"]) == (
        network.id("b"),
        "http://b.test",
        "peer",
        "allowed",
        "healthy",
        0,
    )
    response = admin.post(
        "/peers", json={"url": "http://b.test", "fingerprint": spaced, "relation": "federation"}
    )
    assert_problem(response, 422, "validation", "relation")


def test_peers_show_health_and_lag_and_can_be_blocked(network: Network) -> None:
    a = network.node("a")
    network.node("b")
    network.peer("a", "b")
    admin = steward(network, "a")
    network.down.add("b")
    member(a, "ana").post("/needs", json=need())
    network.pump()
    [item] = admin.get("/peers").get_json()["items"]
    assert item["health"] == "degraded" and item["pending"] == 1 and item["consecutive_failures"] == 1
    assert item["oldest_pending_age"] >= 0 and item["last_success_at"] is None
    with session_scope(a) as db:
        db.execute(update(Peer).values(consecutive_failures=50, next_attempt_at=utcnow()))
    assert admin.get(f"/peers/{network.id('b')}").get_json()["health"] == "unreachable"
    assert admin.post(f"/peers/{network.id('b')}/block").get_json()["health"] == "blocked"
    assert_problem(admin.post(f"/peers/{network.id('b')}/block"), 409, "conflict")
    assert admin.get("/peers?status=blocked").get_json()["total"] == 1
    assert admin.post(f"/peers/{network.id('b')}/unblock").get_json()["status"] == "allowed"
    assert_problem(admin.get("/peers/ma1nobody"), 404, "not-found")
    node = admin.get("/node").get_json()
    assert node["id"] == network.id("a") and node["fingerprint"] == network.fingerprint("a")


@contextmanager
def serving(app: Flask) -> Iterator[str]:
    """The app on a real loopback port."""
    server = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}"
    finally:
        server.shutdown()
        thread.join()


def run(instance: Path, *args: str, ok: bool = True) -> Any:
    env: dict[str, str | None] = {
        "MUTUALAID_DATABASE_URL": None,
        "MUTUALAID_SECRET_KEY": None,
        "MUTUALAID_INSTANCE_PATH": None,
        "MUTUALAID_REDIS_URL": None,
    }
    result = CliRunner().invoke(cli, ["--instance", str(instance), *args], env=env)
    assert (result.exit_code == 0) == ok, result.output
    return result


def test_the_command_line_adds_lists_blocks_rotates_and_catches_up(network: Network, tmp_path: Path) -> None:
    b = network.node("b")
    member(b, "bea").post("/needs", json=need(title="Blankets"))
    instance = tmp_path / "cli-node"
    run(instance, "init", "--name", "Kiez")
    out = run(instance, "fingerprint").output
    own_fingerprint = out.split("fingerprint:")[1].split()[0]
    assert len(own_fingerprint) == 39
    # b learns this node the same way, by its document (served in-process as http://cli.test).
    network.nodes["cli"] = create_app(
        {"instance_path": instance, "database_url": None, "redis_url": None, "public_url": "http://cli.test"}
    )
    network.add("b", "cli")
    with serving(b) as url:
        failed = run(instance, "peer", "add", url, "--fingerprint", own_fingerprint, ok=False)
        assert "does not match" in failed.output
        out = run(instance, "peer", "add", url, "--fingerprint", network.fingerprint("b")).output
        assert f"({network.id('b')}) as peer" in out
        out = run(instance, "peers").output
        assert network.id("b") in out and "healthy" in out
        assert '"relation": "peer"' in run(instance, "peers", "--json").output
        summary = run(instance, "catch-up", "--all").output
        assert f"{network.id('b')}: from {network.id('b')}: fetched 1, applied 1" in summary
        assert "complete" in summary
    out = run(instance, "rotate-key", "--yes", "--overlap-days", "2").output
    assert "New key fingerprint" in out and own_fingerprint not in out
    assert run(instance, "fingerprint").output.split("fingerprint:")[1].split()[0] != own_fingerprint
    assert "blocked" in run(instance, "peer", "block", network.id("b")).output
    assert "already blocked" in run(instance, "peer", "block", network.id("b"), ok=False).output
    network.nodes["cli"].extensions["db"].dispose()
