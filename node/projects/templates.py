"""Templates for the plan's pilot projects (plan 2.1): a working start a group then changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# The plan's principles for every project (plan 2.3); a group may add its own.
PRINCIPLES = [
    "Services and resources are provided free of charge, based on need.",
    "All labour and contributions are freely given.",
    "Decisions are made horizontally by participants.",
    "We support each other and share responsibility collectively.",
]
# Roles every working group rotates (plan 3.2, 3.4): the ones who run its open meetings.
MEETING_ROLES: list[dict[str, Any]] = [
    {"name": "facilitator", "coordinating": True, "description": "Runs the open meeting"},
    {"name": "note-taker", "description": "Keeps the meeting's notes for everyone"},
]


@dataclass(frozen=True)
class Template:
    """A pilot project: its roles, usual weekly shifts, ledger kinds and a first survey."""

    key: str
    name: str
    description: str
    roles: list[dict[str, Any]]
    shifts: list[dict[str, Any]] = field(default_factory=list)
    ledger_kinds: list[str] = field(default_factory=list)
    survey: list[dict[str, Any]] = field(default_factory=list)


def _needs_question(options: list[tuple[str, str, str]]) -> dict[str, Any]:
    return {
        "id": "needs", "type": "needs", "text": "What would help you or your household?",
        "options": [{"value": v, "label": label, "category": c} for v, label, c in options],
    }


TEMPLATES: dict[str, Template] = {
    t.key: t
    for t in [
        Template(
            "community_kitchen", "Community kitchen",
            "Collect surplus food, cook communal meals and share them freely.",
            roles=[
                {"name": "cook", "description": "Cooks the meal"},
                {"name": "driver", "skill": "driving", "description": "Collects surplus food"},
                {"name": "coordinator", "coordinating": True, "description": "Keeps the shift running"},
                *MEETING_ROLES,
            ],
            shifts=[
                {"role": "driver", "weekday": 2, "start_time": "10:00", "minutes": 120, "slots": 1},
                {"role": "cook", "weekday": 2, "start_time": "16:00", "minutes": 180, "slots": 3},
                {"role": "coordinator", "weekday": 2, "start_time": "16:00", "minutes": 240, "slots": 1},
            ],
            ledger_kinds=["food", "meals", "supplies", "money"],
            survey=[
                _needs_question([("meals", "Hot meals", "meals"), ("food", "Groceries", "food")]),
                {"id": "people", "type": "number", "text": "How many people in your household?",
                 "min": 1, "max": 30},
                {"id": "diet", "type": "text", "text": "Anything we should know about diets?"},
            ],
        ),
        Template(
            "tool_library", "Tool library",
            "A shared repository of tools residents can borrow for free.",
            roles=[
                {"name": "librarian", "description": "Lends and takes back tools"},
                {"name": "repairer", "skill": "repairs", "description": "Mends what comes back broken"},
                *MEETING_ROLES,
            ],
            shifts=[
                {"role": "librarian", "weekday": 5, "start_time": "10:00", "minutes": 180, "slots": 2},
            ],
            ledger_kinds=["tools", "repairs", "money"],
            survey=[
                _needs_question([("tools", "Tools to borrow", "tools"), ("repairs", "Help with a repair",
                                                                           "repairs")]),
                {"id": "which", "type": "text", "text": "Which tools would you borrow most?"},
            ],
        ),
        Template(
            "first_aid", "First aid",
            "Health workers and trained neighbours offering basic care and first aid.",
            roles=[
                {"name": "first-aider", "skill": "first_aid", "description": "Gives first aid"},
                {"name": "coordinator", "coordinating": True, "description": "Keeps the clinic running"},
                *MEETING_ROLES,
            ],
            shifts=[
                {"role": "first-aider", "weekday": 3, "start_time": "18:00", "minutes": 120, "slots": 2},
            ],
            ledger_kinds=["supplies", "consultations", "money"],
            survey=[_needs_question([("medical", "First aid or basic care", "medical")])],
        ),
        Template(
            "childcare_swap", "Childcare swap",
            "Parents sharing childcare between them.",
            roles=[
                {"name": "carer", "description": "Looks after the children"},
                {"name": "coordinator", "coordinating": True, "description": "Keeps the rota"},
                *MEETING_ROLES,
            ],
            shifts=[
                {"role": "carer", "weekday": 1, "start_time": "15:00", "minutes": 180, "slots": 2},
                {"role": "carer", "weekday": 4, "start_time": "15:00", "minutes": 180, "slots": 2},
            ],
            ledger_kinds=["childcare_hours", "supplies"],
            survey=[
                _needs_question([("childcare", "Childcare", "childcare")]),
                {"id": "children", "type": "number", "text": "How many children?", "min": 1, "max": 20},
                {"id": "when", "type": "choice", "text": "When do you most need it?",
                 "options": ["mornings", "afternoons", "evenings", "weekends"]},
            ],
        ),
        Template(
            "rapid_response", "Rapid-response team",
            "Neighbours ready to help in local emergencies: floods, power cuts, evictions.",
            roles=[
                {"name": "responder", "description": "On call to help"},
                {"name": "driver", "skill": "driving", "description": "Moves people and supplies"},
                {"name": "coordinator", "coordinating": True, "description": "Coordinates the response"},
                *MEETING_ROLES,
            ],
            shifts=[
                {"role": "responder", "weekday": 5, "start_time": "08:00", "minutes": 720, "slots": 3},
                {"role": "coordinator", "weekday": 5, "start_time": "08:00", "minutes": 720, "slots": 1},
            ],
            ledger_kinds=["supplies", "shelter_nights", "money"],
            survey=[
                _needs_question([("shelter", "A place to stay", "shelter"), ("transport", "Transport",
                                                                            "transport"),
                                 ("food", "Food and water", "food")]),
                {"id": "vulnerable", "type": "choice", "text": "Does anyone at home need extra help "
                 "in an emergency?", "options": ["yes", "no"]},
            ],
        ),
    ]
}


def get_template(key: str) -> Template | None:
    """The template with this key, if there is one."""
    return TEMPLATES.get(key)
