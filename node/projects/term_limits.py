"""The term limit of a project's coordinating roles comes from the assembly: a proposal of kind
`term_limit` names the project and the limit, and only a passed decision changes it."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from sqlalchemy.orm import Session

from node.assemblies import service as assemblies
from node.assemblies.methods import Outcome
from node.assemblies.models import Assembly, Decision, Proposal
from node.members.models import Member
from node.projects.models import Project

TERM_LIMIT_KIND = "term_limit"


def propose(
    db: Session, assembly: Assembly, project: Project, proposer: Member, limit: int,
    *, reason: str = "", closes_at: datetime | None = None,
) -> Proposal:
    """Put a new term limit for the project's coordinating roles to the assembly."""
    title = f"Term limit for {project.name}: {limit}"[:120]
    terms = "term" if limit == 1 else "terms in a row"
    text = (f"Nobody holds a coordinating role in {project.name} for more than {limit} {terms}. "
            f"(Now: {project.coordinator_term_limit}.)")
    if reason:
        text = f"{text}\n\n{reason}"
    payload = {"project": str(project.id), "limit": limit}
    return assemblies.create_proposal(
        db, assembly, proposer, title, text, kind=TERM_LIMIT_KIND, payload=payload, closes_at=closes_at,
    )


def on_decision(db: Session, *, decision: Decision, assembly: Assembly, **_: Any) -> None:
    """A passed term-limit decision sets the project's limit, naming the decision."""
    if decision.kind != TERM_LIMIT_KIND or decision.outcome is not Outcome.PASSED:
        return
    project = db.get(Project, uuid.UUID(str(decision.payload["project"])))
    if project is None:
        assemblies.add_minute(db, assembly, "term_limit", "No term limit set: the project no longer exists")
        return
    limit = int(decision.payload["limit"])
    project.coordinator_term_limit = limit
    project.term_limit_decision = (
        f"{assembly.title}, {decision.decided_at:%d %b %Y}: “{decision.title}” (decision {decision.id})"
    )[:300]
    db.flush()
    assemblies.add_minute(db, assembly, "term_limit",
                          f"{project.name}: coordinating roles now rotate after {limit} term(s)")
