"""Email notifications through a real SMTP server started for each test."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

from click.testing import CliRunner
from sqlalchemy import select

from node.cli import cli
from node.db import session_scope
from node.projects.mail import SmtpMailer, send_pending
from node.projects.models import Notification, NotificationStatus
from tests.conftest import TEST_SECRET
from tests.projects.conftest import free_port
from tests.projects.helpers import CELL, count, make_project, problem

NEED = {"category": "food", "title": "Rice", "quantity": 2, "unit": "kg", "h3_cell": CELL}
OFFER = {"category": "food", "title": "Spare rice", "quantity": 5, "unit": "kg", "h3_cell": CELL}


def mailer(app: Any, port: int) -> SmtpMailer:
    settings = app.config["MUTUALAID"].model_copy(update={"smtp_host": "127.0.0.1", "smtp_port": port})
    return SmtpMailer(settings)


def propose(alice: Any, ben: Any) -> dict[str, Any]:
    need = alice.post("/needs", json=NEED).json
    offer = ben.post("/offers", json=OFFER).json
    r = ben.post("/matches", json={"need_id": need["id"], "offer_id": offer["id"], "note": "I live nearby"})
    assert r.status_code == 201, r.json
    return dict(r.json)


def test_match_proposal_is_mailed_once(app: Any, make_member: Any, smtp: Any) -> None:
    inbox, port = smtp
    alice, ben = make_member("alice"), make_member("ben")
    propose(alice, ben)
    with session_scope(app) as db:
        report = send_pending(db, mailer(app, port))
    assert report.sent == 1
    [message] = inbox.to("alice@example.org")
    assert "A match is proposed: Spare rice" in message["Subject"]
    assert "I live nearby" in message.get_payload()
    assert message["Message-ID"].endswith("@node.test>")
    with session_scope(app) as db:
        assert send_pending(db, mailer(app, port)).sent == 0
    assert len(inbox.messages) == 1


def test_accepting_tells_the_proposer(app: Any, make_member: Any, smtp: Any) -> None:
    inbox, port = smtp
    alice, ben = make_member("alice"), make_member("ben")
    match = propose(alice, ben)
    assert alice.post(f"/matches/{match['id']}/accept").status_code == 200
    with session_scope(app) as db:
        send_pending(db, mailer(app, port))
    subjects = [m["Subject"] for m in inbox.to("ben@example.org")]
    assert subjects == ["[Neighbourhood node] Your match was accepted"]


def test_a_refusing_server_means_retry_later_not_loss(app: Any, make_member: Any, smtp: Any) -> None:
    inbox, port = smtp
    alice, ben = make_member("alice"), make_member("ben")
    propose(alice, ben)
    inbox.refuse = True
    now = datetime.now(UTC)
    with session_scope(app) as db:
        report = send_pending(db, mailer(app, port), now)
    assert (report.sent, report.retrying) == (0, 1)
    with session_scope(app) as db:
        row = db.scalars(select(Notification)).one()
        assert row.status == NotificationStatus.PENDING and row.attempts == 1
        assert "451" in row.last_error
    inbox.refuse = False
    with session_scope(app) as db:
        assert send_pending(db, mailer(app, port), now).sent == 0  # not due yet
        assert send_pending(db, mailer(app, port), now + timedelta(minutes=5)).sent == 1
    assert len(inbox.to("alice@example.org")) == 1


def test_no_server_listening_is_retried(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    propose(alice, ben)
    with session_scope(app) as db:
        report = send_pending(db, mailer(app, free_port()))
    assert report.retrying == 1
    with session_scope(app) as db:
        assert db.scalars(select(Notification)).one().status == NotificationStatus.PENDING


def test_daily_digest_gathers_what_members_chose(app_factory: Any, make_member: Any, smtp: Any) -> None:
    inbox, port = smtp
    app = app_factory(digest_hour=7, time_zone="Europe/Madrid")
    alice, _ben = make_member("alice", target=app), make_member("ben", target=app)
    project = make_project(alice)
    for text in ("Cooks wanted Friday", "Drivers wanted Saturday"):
        assert alice.post(f"/projects/{project['id']}/callouts", json={"message": text}).status_code == 201
    early = datetime(2030, 1, 10, 5, 0, tzinfo=UTC)  # 06:00 in Madrid: before the digest hour
    with session_scope(app) as db:
        assert send_pending(db, mailer(app, port), early).digests == 0
        report = send_pending(db, mailer(app, port), early + timedelta(hours=2))
        assert (report.digests, report.sent) == (1, 2)
        assert send_pending(db, mailer(app, port), early + timedelta(hours=5)).digests == 0
    [digest] = inbox.to("ben@example.org")
    assert "daily digest (2)" in digest["Subject"]
    assert "Cooks wanted Friday" in digest.get_payload() and "Drivers wanted Saturday" in digest.get_payload()
    alice.post(f"/projects/{project['id']}/callouts", json={"message": "Washing up Sunday"})
    with session_scope(app) as db:
        assert send_pending(db, mailer(app, port), early + timedelta(days=1, hours=2)).digests == 1
    assert len(inbox.to("ben@example.org")) == 2
    assert inbox.to("alice@example.org") == []


def test_members_choose_what_they_get(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    r = alice.patch("/me/notifications", json={"match": "off", "shift": "digest"})
    assert r.status_code == 200
    assert r.json["choices"]["match"] == "off" and r.json["choices"]["shift"] == "digest"
    problem(alice.patch("/me/notifications", json={"match": "sometimes"}), 422, "match")
    problem(alice.patch("/me/notifications", json={"weather": "off"}), 422, "weather")
    propose(alice, ben)
    assert count(app, Notification) == 0


def test_assembly_dates_reach_everyone(app: Any, make_member: Any) -> None:
    from node.projects.hooks import on_assembly_scheduled

    make_member("alice"), make_member("ben")
    assembly = SimpleNamespace(
        id="a1",
        title="Spring assembly",
        location="Community hall",
        starts_at=datetime(2030, 3, 1, 18, 0, tzinfo=UTC),
    )
    with session_scope(app) as db:
        on_assembly_scheduled(db, assembly=assembly)
        on_assembly_scheduled(db, assembly=assembly)
        rows = list(db.scalars(select(Notification)))
    assert len(rows) == 2
    assert rows[0].subject == "Assembly: Spring assembly on Fri 01 Mar 2030, 18:00 UTC"


def test_notify_command_sends_reminders_and_pending_mail(app: Any, make_member: Any, smtp: Any) -> None:
    inbox, port = smtp
    alice, ben = make_member("alice"), make_member("ben")
    propose(alice, ben)
    settings = app.config["MUTUALAID"]
    instance: Path = settings.instance_path
    (instance / "mutualaid.toml").write_text(
        f'database_url = "{settings.sqlalchemy_url}"\nsecret_key = "{TEST_SECRET}"\n'
        f'smtp_host = "127.0.0.1"\nsmtp_port = {port}\npublic_url = "http://node.test"\nenv = "testing"\n'
        "extensions = []\n"
    )
    result = CliRunner().invoke(cli, ["--instance", str(instance), "notify"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert "Sent 1" in result.output
    assert len(inbox.to("alice@example.org")) == 1
