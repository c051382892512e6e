from __future__ import annotations

from typing import Any
from xml.etree import ElementTree

from node.projects.models import Story, Upload
from tests.projects.helpers import count, make_project, problem

ATOM = "{http://www.w3.org/2005/Atom}"
WEBP = b"RIFF\x24\x00\x00\x00WEBPVP8 " + bytes(64)


def test_public_stories_make_an_atom_feed(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice)
    first = alice.post(
        "/stories",
        json={
            "title": "Our first meal",
            "body": "Forty neighbours ate together.",
            "project_id": project["id"],
            "visibility": "public",
        },
    )
    assert first.status_code == 201, first.json
    ben.post("/stories", json={"title": "Just for us", "body": "Members only notes."})
    second = ben.post(
        "/stories", json={"title": "Flood response", "body": "Sandbags & soup <3", "visibility": "public"}
    ).json
    feed = app.test_client().get("/api/v1/stories.atom")
    assert feed.status_code == 200
    assert feed.mimetype == "application/atom+xml"
    root = ElementTree.fromstring(feed.data)
    assert root.tag == f"{ATOM}feed"
    titles = [e.findtext(f"{ATOM}title") for e in root.findall(f"{ATOM}entry")]
    assert titles == ["Flood response", "Our first meal"]
    entry = root.findall(f"{ATOM}entry")[0]
    assert entry.findtext(f"{ATOM}content") == "Sandbags & soup <3"
    assert entry.findtext(f"{ATOM}author/{ATOM}name") == "ben"
    assert entry.findtext(f"{ATOM}id") == f"urn:uuid:{second['id']}"
    assert root.find(f"{ATOM}link[@rel='self']") is not None
    public = app.test_client().get(f"/api/v1/public/stories/{second['id']}")
    assert public.status_code == 200 and public.json["title"] == "Flood response"
    private_id = next(s for s in alice.get("/stories").json["items"] if s["visibility"] == "members")["id"]
    assert app.test_client().get(f"/api/v1/public/stories/{private_id}").status_code == 404


def test_story_photos_follow_the_story(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    story = alice.post("/stories", json={"title": "Garden day", "body": "We planted beans."}).json
    headers = {"Authorization": f"Bearer {alice.token}", "Content-Type": "image/webp"}
    r = alice.client.post(f"/api/v1/stories/{story['id']}/photos", data=WEBP, headers=headers)
    assert r.status_code == 201, r.json
    photo = r.json["photos"][0]
    anonymous = app.test_client()
    assert anonymous.get(photo).status_code == 404  # members-only story
    assert ben.client.get(photo, headers={"Authorization": f"Bearer {ben.token}"}).status_code == 200
    ben_headers = {"Authorization": f"Bearer {ben.token}", "Content-Type": "image/webp"}
    problem(ben.client.post(f"/api/v1/stories/{story['id']}/photos", data=WEBP, headers=ben_headers), 403)
    alice.patch(f"/stories/{story['id']}", json={"visibility": "public"})
    public = anonymous.get(photo)
    assert public.status_code == 200 and public.headers["Cache-Control"].startswith("public")
    problem(ben.delete(f"/stories/{story['id']}"), 403)
    uploads_dir = app.config["MUTUALAID"].instance_path / "uploads"
    assert len(list(uploads_dir.iterdir())) == 1
    assert alice.delete(f"/stories/{story['id']}").status_code == 204
    assert (count(app, Story), count(app, Upload)) == (0, 0)
    assert list(uploads_dir.iterdir()) == []


def test_story_input_is_checked(app: Any, make_member: Any) -> None:
    alice = make_member("alice")
    problem(alice.post("/stories", json={"title": "Hi", "body": "x"}), 422, "title")
    problem(
        alice.post(
            "/stories",
            json={
                "title": "A story",
                "body": "Text here",
                "project_id": "00000000-0000-0000-0000-000000000000",
            },
        ),
        422,
        "project_id",
        "no such project",
    )
    problem(
        alice.post("/stories", json={"title": "A story", "body": "Text", "visibility": "world"}),
        422,
        "visibility",
    )
    assert count(app, Story) == 0
