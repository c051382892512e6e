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
