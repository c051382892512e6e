"""What assembly decisions do to mandates: a passed election issues one, a passed recall
recalls one. Connected to `node.signals.decision_made`, in the decision's own transaction."""

from __future__ import annotations

import uuid
from typing import Any

from flask import Flask, current_app, has_app_context
from sqlalchemy.orm import Session

from delegates import mandate as mandates
from delegates import recall
from delegates.models import Mandate, MandateStatus, PetitionStatus, RecallPetition
from node.assemblies.methods import Outcome
from node.assemblies.models import Assembly, Decision
from node.assemblies.service import add_minute
from node.db import utcnow
from node.signals import decision_made


def on_decision(db: Session, *, decision: Decision, assembly: Assembly, **_: Any) -> None:
    """Issue or recall a mandate when an assembly decides to."""
    if decision.kind not in (mandates.MANDATE_KIND, recall.RECALL_KIND) or not has_app_context():
        return
    app: Flask = current_app._get_current_object()  # type: ignore[attr-defined]
    if "delegates" not in app.config["MUTUALAID"].extensions:
        return
    if decision.kind == recall.RECALL_KIND:
        _settle_petition(db, decision)
    if decision.outcome is not Outcome.PASSED:
        return
    if decision.kind == mandates.MANDATE_KIND:
        mandates.elect(db, app, decision, assembly)
        return
    mandate = db.get(Mandate, uuid.UUID(decision.payload["mandate"]))
    if mandate is None or mandate.status is MandateStatus.RECALLED or mandate.expires_at <= utcnow():
        add_minute(db, assembly, "recall", "Nothing to recall: the mandate has already ended")
        return
    recall.recall_by_decision(db, app, mandate, decision)
    add_minute(db, assembly, "recall",
               f"The mandate of {mandate.delegate_handle} to {mandate.federation} is recalled; "
               "the recall is signed and sent to the federation")


def _settle_petition(db: Session, decision: Decision) -> None:
    petition_id = decision.payload.get("petition")
    petition = db.get(RecallPetition, uuid.UUID(petition_id)) if petition_id else None
    if petition is not None and petition.status is PetitionStatus.TRIGGERED:
        petition.status = PetitionStatus.CLOSED


decision_made.connect(on_decision)
