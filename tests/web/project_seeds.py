"""A project with something of everything, put straight into a node for the browser checks:
a tool library with an item, a coordinator's place to swap, a survey for members and one for
neighbours. Prints the pages to check as one JSON object."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

from flask import Flask
from sqlalchemy import select

from node.assemblies import service as assemblies
from node.assemblies.schemas import AssemblyIn
from node.db import session_scope, utcnow
from node.members.models import Member
from node.projects import schemas, service, shifts, surveys, tools
from node.projects.models import Assignment, AssignmentSource, Role
from node.projects.schemas_library import ItemIn
from node.projects.schemas_stories import SurveyIn
from node.projects.templates import TEMPLATES


def project_pages(app: Flask, handle: str) -> dict[str, Any]:
    """Make the project for the member; returns the paths of its pages."""
    settings = app.config["MUTUALAID"]
    with session_scope(app) as db:
        member = db.scalars(select(Member).where(Member.handle == handle)).one()
        project = service.create_project(db, settings, member, schemas.ProjectIn(
            name="Tool library", slug=f"tools-{handle}", template="tool_library", create_shifts=False))
        item = tools.add_item(db, project, member, ItemIn(name="Ladder", description="3 m"))
        role = Role(project_id=project.id, name="coordinator", coordinating=True)
        db.add(role)
        db.flush()
        start = utcnow().replace(microsecond=0) + timedelta(days=2)
        shift = shifts.create_shift(db, project, schemas.ShiftIn(role_id=role.id, starts_at=start,
                                                                 ends_at=start + timedelta(hours=2)))
        place = Assignment(shift_id=shift.id, member_id=member.id, source=AssignmentSource.SIGNUP)
        db.add(place)
        questions = [*TEMPLATES["tool_library"].survey,
                     {"id": "how", "type": "scale", "text": "How easy is it to borrow a tool now?"}]
        members, _ = surveys.send(db, project, member, SurveyIn.model_validate(
            {"title": "What do you need?", "questions": questions}))
        _, link = surveys.send(db, project, member, SurveyIn.model_validate(
            {"title": "Tools for the street", "questions": questions, "audience": "neighbours"}))
        # An assembly to put a new term limit to (the project page then offers the form).
        assemblies.create_assembly(db, member, AssemblyIn(title="Street assembly"))
        db.flush()
        return {
            "member": [f"/projects/{project.id}", f"/projects/{project.id}/surveys", f"/surveys/{members.id}",
                       f"/items/{item.id}", f"/assignments/{place.id}/swap", "/me/swaps", "/me/library"],
            "neighbour": f"/neighbours/surveys/{link}",
        }


if __name__ == "__main__":
    # python -m tests.web.project_seeds INSTANCE HANDLE: used by the browser tests on a node process.
    from node import create_app

    node_app = create_app({"instance_path": Path(sys.argv[1])})
    print(json.dumps(project_pages(node_app, sys.argv[2])))
    node_app.extensions["db"].dispose()
