from __future__ import annotations

from typing import Any

from node.projects.models import SurveyResponse
from node.resources.models import Listing
from tests.projects.helpers import CELL, count, make_project, problem

QUESTIONS = [
    {
        "id": "needs",
        "type": "needs",
        "text": "What would help?",
        "required": True,
        "options": [
            {"value": "meals", "label": "Hot meals", "category": "meals"},
            {"value": "food", "label": "Groceries", "category": "food"},
        ],
    },
    {"id": "people", "type": "number", "text": "How many at home?", "min": 1, "max": 30},
    {
        "id": "when",
        "type": "choice",
        "text": "When?",
        "options": [{"value": "lunch", "label": "Lunch"}, {"value": "dinner", "label": "Dinner"}],
    },
    {"id": "happy", "type": "scale", "text": "How are you coping?"},
    {"id": "notes", "type": "text", "text": "Anything else?"},
]


def survey(api: Any, project: dict[str, Any], **kw: Any) -> dict[str, Any]:
    r = api.post(
        f"/projects/{project['id']}/surveys", json={"title": "Kitchen needs", "questions": QUESTIONS, **kw}
    )
    assert r.status_code == 201, r.json
    return dict(r.json)


def test_answers_become_needs_through_the_needs_service(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice)
    s = survey(alice, project)
    r = ben.post(
        f"/surveys/{s['id']}/responses",
        json={
            "answers": {
                "needs": ["meals", "food"],
                "people": 3,
                "when": "dinner",
                "happy": 4,
                "notes": "thanks",
            },
            "h3_cell": CELL,
            "urgency": "soon",
        },
    )
    assert r.status_code == 201, r.json
    assert len(r.json["needs"]) == 2
    mine = ben.get("/needs?mine=true").json["items"]
    assert sorted(n["category"] for n in mine) == ["food", "meals"]
    assert {n["urgency"] for n in mine} == {"soon"}
    assert {n["title"] for n in alice.get(f"/projects/{project['id']}/needs").json["items"]} == {
        "Hot meals",
        "Groceries",
    }
    again = {"answers": {"needs": ["food"]}, "h3_cell": CELL}
    problem(ben.post(f"/surveys/{s['id']}/responses", json=again), 409, "answers", "already answered")
    results = alice.get(f"/surveys/{s['id']}/results").json
    assert results["responses"] == 1 and results["needs_raised"] == 2
    by_id = {q["id"]: q for q in results["questions"]}
    assert by_id["needs"]["counts"] == {"meals": 1, "food": 1}
    assert by_id["people"]["mean"] == 3 and by_id["notes"]["texts"] == ["thanks"]
    problem(ben.get(f"/surveys/{s['id']}/results"), 403)


def test_answers_of_the_wrong_shape_are_refused_whole(app: Any, make_member: Any) -> None:
    alice, ben = make_member("alice"), make_member("ben")
    project = make_project(alice)
    s = survey(alice, project)
    bad = {
        "needs": ["meals", "cake"],
        "people": "three",
        "when": ["lunch"],
        "happy": 9,
        "notes": 5,
        "extra": 1,
    }
    r = ben.post(f"/surveys/{s['id']}/responses", json={"answers": bad, "h3_cell": CELL})
    body = problem(r, 422)
    reasons = {e["field"]: e["reason"] for e in body["errors"]}
    assert reasons == {
        "answers.extra": "no such question",
        "answers.needs": "unknown options: cake; choose from meals, food",
        "answers.people": "must be a number",
        "answers.when": "must be one of: lunch, dinner",
        "answers.happy": "must be a whole number from 1 to 5",
        "answers.notes": "must be text",
    }
    problem(
        ben.post(f"/surveys/{s['id']}/responses", json={"answers": {"people": 2}, "h3_cell": CELL}),
        422,
        "answers.needs",
        "an answer is required",
    )
    problem(
        ben.post(f"/surveys/{s['id']}/responses", json={"answers": {"needs": ["food"]}}),
        422,
        "h3_cell",
        "give your area",
    )
    too_many = {"answers": {"people": 40, "needs": ["food"]}, "h3_cell": CELL}
    problem(ben.post(f"/surveys/{s['id']}/responses", json=too_many), 422, "answers.people", "between 1")
    assert (count(app, SurveyResponse), count(app, Listing)) == (0, 0)


def test_bad_survey_definitions_are_refused(make_member: Any) -> None:
    alice = make_member("alice")
    project = make_project(alice)
    url = f"/projects/{project['id']}/surveys"
    no_category = [{"id": "n", "type": "needs", "text": "Needs?", "options": [{"value": "x", "label": "X"}]}]
    problem(alice.post(url, json={"title": "Survey", "questions": no_category}), 422, "questions.0")
    unknown = [
        {
            "id": "n",
            "type": "needs",
            "text": "Needs?",
            "options": [{"value": "x", "label": "X", "category": "unicorns"}],
        }
    ]
    problem(
        alice.post(url, json={"title": "Survey", "questions": unknown}),
        422,
        "questions.0.options.0.category",
        "unknown category",
    )
    twice = [QUESTIONS[1], QUESTIONS[1]]
    problem(alice.post(url, json={"title": "Survey", "questions": twice}), 422, "questions")


def test_neighbours_answer_through_a_secret_link(app: Any, make_member: Any) -> None:
    alice = make_member("alice")
    project = make_project(alice, h3_cell=CELL)
    s = survey(alice, project, audience="neighbours")
    link = s["answer_url"].removeprefix("http://node.test")
    neighbour = app.test_client()
    assert neighbour.get(link).json["title"] == "Kitchen needs"
    page = s["answer_page_url"].removeprefix("http://node.test")
    assert page == "/neighbours/surveys/" + link.rsplit("/", 1)[1]
    assert "Kitchen needs" in neighbour.get(page).get_data(as_text=True)
    r = neighbour.post(link, json={"answers": {"needs": ["meals"], "people": 5}})
    assert r.status_code == 201, r.json
    [need] = alice.get("/needs?mine=true").json["items"]
    assert need["title"] == "Hot meals" and need["h3_cell"] == CELL
    assert "on behalf of a neighbour" in need["description"]
    assert neighbour.get("/api/v1/public/surveys/srv_guess").status_code == 404
    again = alice.get(f"/surveys/{s['id']}").json
    assert again["answer_url"] is None and again["answer_page_url"] is None
    assert alice.post(f"/surveys/{s['id']}/close").status_code == 200
    problem(neighbour.post(link, json={"answers": {"needs": ["food"]}}), 409)


def test_numbers_that_are_not_numbers_are_refused(app: Any, make_member: Any) -> None:
    alice = make_member("alice")
    s = survey(alice, make_project(alice))
    headers = {"Authorization": f"Bearer {alice.token}", "Content-Type": "application/json"}
    for raw in ("NaN", "Infinity", "-Infinity"):
        body = '{"answers": {"people": ' + raw + ', "needs": ["food"]}, "h3_cell": "' + CELL + '"}'
        r = alice.client.post(f"/api/v1/surveys/{s['id']}/responses", data=body, headers=headers)
        problem(r, 422, "answers.people", "must be a number")
    assert count(app, SurveyResponse) == 0
