"""What the projects area does when other parts of the node announce something."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from node.members.models import Member
from node.projects.notifications import local_time, notify, notify_many
from node.resources.models import Match
from node.signals import (
    assembly_scheduled,
    decision_made,
    match_changed,
    member_erasing,
    member_exporting,
)


def connect() -> None:
    """Connect the receivers (blinker keeps one connection however often this runs)."""
    from node.projects import member_data, term_limits

    decision_made.connect(term_limits.on_decision)
    match_changed.connect(on_match_changed)
    assembly_scheduled.connect(on_assembly_scheduled)
    member_exporting.connect(member_data.export)
    member_erasing.connect(member_data.erase)


def on_match_changed(db: Session, match: Match, change: str, **_: Any) -> None:
    """Tell the people on a match what happened to it."""
    need, offer = match.need, match.offer
    sides = {need.member_id, offer.member_id}
    proposer = match.proposed_by_id
    others = sides - {proposer} if proposer else sides
    what = f"'{need.title}' and '{offer.title}'"
    if change == "proposed":
        notify_many(db, others, "match", f"A match is proposed: {offer.title}",
                    f"Someone proposes meeting the need {need.title!r} with the offer {offer.title!r}.\n"
                    f"{match.note}\n\nAccept or decline it among your matches.".replace("\n\n\n", "\n\n"))
    elif change == "accepted" and proposer is not None:
        notify(db, proposer, "match", "Your match was accepted",
               f"The match between {what} was accepted. You can now see each other's contact details.")
    elif change == "declined" and proposer is not None:
        notify(db, proposer, "match", "A match was declined", f"The match between {what} was declined.")
    elif change == "cancelled":
        # A proposal is cancelled by its proposer; an accepted match by either side.
        targets = sides if match.decided_by_id is not None else others
        notify_many(db, targets, "match", "A match was called off",
                    f"The match between {what} was called off.")
    elif change == "fulfilled":
        notify_many(db, sides, "match", "How did it go?",
                    f"The exchange between {what} is done. Both sides can say how it went "
                    f"(feedback on match {match.id}).")


def on_assembly_scheduled(db: Session, assembly: Any, **_: Any) -> None:
    """Tell every member of an assembly's date, as they chose."""
    when = getattr(assembly, "starts_at", None)
    title = getattr(assembly, "title", "An assembly")
    place = getattr(assembly, "location", "")
    date_text = f" on {local_time(when)}" if when else ""
    body = f"{title}{date_text}{f' at {place}' if place else ''}. Assemblies are open to every member."
    everyone = db.scalars(select(Member.id))
    notify_many(db, everyone, "assembly", f"Assembly: {title}{date_text}", body,
                dedupe_prefix=f"assembly:{getattr(assembly, 'id', '')}")
