import os
import subprocess
import sys
from typing import Any

CELL = "881f1d4815fffff"  # resolution 8


def need(**kw: Any) -> dict[str, Any]:
    body = {
        "category": "food",
        "title": "Rice for 4",
        "quantity": 2,
        "unit": "kg",
        "urgency": "urgent",
        "h3_cell": CELL,
    }
    body.update(kw)
    return body


def test_post_and_list_need(make_member: Any) -> None:
    alice = make_member("alice")
    r = alice.post("/needs", json=need())
    assert r.status_code == 201, r.json
    r = alice.get("/needs")
    assert r.status_code == 200
    assert [item["title"] for item in r.json["items"]] == ["Rice for 4"]
    assert r.json["items"][0]["handle"] == "alice"


def test_openapi(client: Any) -> None:
    r = client.get("/api/v1/openapi.json")
    assert r.status_code == 200
    assert r.json["openapi"] == "3.1.0"
    assert "/api/v1/needs" in r.json["paths"]


def test_the_web_process_loads_rarely_used_libraries_only_when_used(tmp_path: Any) -> None:
    # Each web worker imports the whole app; these are loaded on first use instead, which keeps
    # an idle node small (docs/performance.md, "API (issue 2)").
    script = f"""
import sys
from node import create_app
app = create_app({{"env": "testing", "instance_path": {str(tmp_path)!r}, "secret_key": "x" * 40,
                  "broker_url": "sqla+sqlite:///{tmp_path}/broker.sqlite3"}})
from federation import wake
from workers.celery_app import CeleryWaker
assert isinstance(wake.waker(app), CeleryWaker)
client = app.test_client()
assert client.get("/healthz").status_code == 200
assert client.get("/api/v1/needs").status_code == 401
print(" ".join(sorted({{name.split(".")[0] for name in sys.modules}})))
"""
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120,
                          env={k: v for k, v in os.environ.items() if not k.startswith("MUTUALAID_")})
    assert done.returncode == 0, done.stderr
    loaded = set(done.stdout.split())
    assert "flask" in loaded and "sqlalchemy" in loaded
    heavy = {"numpy", "cryptography", "requests", "celery", "kombu", "icalendar", "feedgen", "lxml", "hxl"}
    assert not heavy & loaded
