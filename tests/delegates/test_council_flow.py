"""The whole story in one process: assemblies elect delegates, the council votes, a recall
voids a vote mid-count everywhere, and the federation's signed decision reaches every node."""

from __future__ import annotations

from tests.delegates.conftest import Region, ok


def test_elect_vote_recall_decide(region: Region) -> None:
    nadia = region.elect("north", "nadia")
    sami = region.elect("south", "sami")
    region.pump()
    for name in ("city", "north", "south"):
        known = ok(region.stewards[name].get("/mandates"))["items"]
        assert {m["delegate"] for m in known} == {"nadia", "sami"}, name

    proposal = region.open_proposal()
    region.pump()
    ok(nadia.send(nadia.vote(proposal["id"], "against")), 201)
    ok(sami.send(sami.vote(proposal["id"], "for")), 201)
    region.pump()
    for name in ("city", "north", "south"):
        tally = region.council(name, proposal["id"])["tally"]
        assert tally["counts"] == {"abstain": 0, "against": 1, "for": 1}, name
        assert tally["outcome"] == "rejected"

    north = region.stewards["north"]
    recall = ok(
        north.post(
            f"/mandates/{nadia.mandate_id}/recall-proposals", json={"reason": "voted against our position"}
        ),
        201,
    )
    region.decide("north", recall, [north])
    region.pump()
    for name in ("city", "north", "south"):
        seen = region.council(name, proposal["id"])
        assert seen["tally"]["counts"] == {"abstain": 0, "against": 0, "for": 1}, name
        assert seen["tally"]["outcome"] == "passed"
        assert {a["delegate"]: a["counted"] for a in seen["acts"]} == {"nadia": False, "sami": True}

    decided = ok(region.stewards["city"].post(f"/council/proposals/{proposal['id']}/close"))
    assert decided["outcome"] == "passed"
    region.pump()
    for name in ("north", "south"):
        seen = region.council(name, proposal["id"])
        assert seen["status"] == "decided" and seen["outcome"] == "passed", name
        voided = [a["id"] for a in seen["acts"] if a["delegate"] == "nadia"]
        assert seen["decision"]["voided"] == voided
        assert seen["disagreement"] == ""
