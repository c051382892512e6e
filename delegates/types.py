"""The envelope types of delegation, registered in the federation's type registry.

Bodies carry signed documents unchanged (a mandate, a recall, an act, a proposal, a decision):
each verifies on its own, whoever's envelope carries it and however many relays it passed. A
handler refuses with the same reason a node's API would give (see docs/delegates.md).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from delegates import council, recall
from delegates import mandate as mandates
from delegates.errors import Refused
from federation.bodies import Body
from federation.envelope import EnvelopeError
from federation.registry import APPLIED, ApplyContext, register

Document = dict[str, Any]


class MandateIssued(Body):
    """A node's assembly elected a delegate: the signed mandate credential."""

    mandate: Document


class MandateRecalled(Body):
    """A node's assembly recalled its delegate: the signed recall and the credential it ends."""

    recall: Document
    mandate: Document


class ProposalOpened(Body):
    """A federation put a question to its council: the proposal it signed."""

    proposal: Document


class ActSubmitted(Body):
    """A delegate's act (vote.cast, statement.made, proposal.submitted) with its mandate and,
    for a vote or statement, the proposal it is about."""

    act: Document
    mandate: Document
    proposal: Document | None = None


class DecisionPublished(Body):
    """A federation's signed decision on a council proposal, with the proposal."""

    decision: Document
    proposal: Document


def _refusing(handler: Callable[[ApplyContext, Any], str]) -> Callable[[ApplyContext, Any], str]:
    def apply(ctx: ApplyContext, body: Any) -> str:
        try:
            return handler(ctx, body)
        except Refused as exc:
            raise EnvelopeError(exc.reason, exc.detail) from None

    apply.__name__ = handler.__name__
    apply.__doc__ = handler.__doc__
    return apply


def apply_mandate_issued(ctx: ApplyContext, body: MandateIssued) -> str:
    """Record a member node's credential after checking who signed it."""
    mandates.accept_credential(ctx.db, ctx.app, body.mandate)
    return APPLIED


def apply_mandate_recalled(ctx: ApplyContext, body: MandateRecalled) -> str:
    """End a mandate and void its votes on open proposals."""
    return recall.accept_recall(ctx.db, ctx.app, body.recall, body.mandate)


def apply_proposal_opened(ctx: ApplyContext, body: ProposalOpened) -> str:
    """Record a council proposal signed by one of our federations."""
    council.accept_proposal(ctx.db, ctx.app, body.proposal)
    return APPLIED


def apply_act(ctx: ApplyContext, body: ActSubmitted) -> str:
    """Check a delegate's act against its live mandate and count it."""
    submitted = council.Submitted(body.act, body.mandate, body.proposal)
    council.receive_act(ctx.db, ctx.app, submitted)
    return APPLIED


def apply_decision_published(ctx: ApplyContext, body: DecisionPublished) -> str:
    """Record the federation's decision."""
    council.accept_decision(ctx.db, ctx.app, body.decision, body.proposal)
    return APPLIED


TYPES: dict[str, tuple[type[Body], Callable[[ApplyContext, Any], str]]] = {
    "mandate.issued": (MandateIssued, apply_mandate_issued),
    "mandate.recalled": (MandateRecalled, apply_mandate_recalled),
    "proposal.opened": (ProposalOpened, apply_proposal_opened),
    "vote.cast": (ActSubmitted, apply_act),
    "statement.made": (ActSubmitted, apply_act),
    "proposal.submitted": (ActSubmitted, apply_act),
    "decision.published": (DecisionPublished, apply_decision_published),
}


def register_types() -> None:
    """Make every delegation type known to the federation registry (harmless to repeat)."""
    for name, (model, handler) in TYPES.items():
        # A recall goes in the priority lane: it must overtake the votes it voids.
        register(name, model, _refusing(handler), priority=1 if name == "mandate.recalled" else 0)


register_types()
