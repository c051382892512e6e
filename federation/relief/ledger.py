"""The owning node's rule for pledges against one of its surpluses: never promise it twice.

Only the node that published a surplus decides on pledges against it (DESIGN.md), one at a
time: the caller keeps one `SurplusLedger` per surplus and serialises calls on it (in the
database, by locking the surplus's row for the transaction that records the decision). An
accepted pledge holds its quantity until its lease ends; confirming it makes the hold firm,
and a hold whose lease ran out unconfirmed returns its quantity to the pool by itself.
Every refusal names its reason with a stable slug the pledging node can act on.
"""

from __future__ import annotations

import enum
import math
from dataclasses import dataclass, field
from datetime import datetime

from federation.relief.matching import GlobalId, Hold


class Refusal(enum.StrEnum):
    """Why a pledge was refused."""

    SURPLUS_CLOSED = "surplus-closed"
    WRONG_SURPLUS = "wrong-surplus"
    BAD_QUANTITY = "bad-quantity"
    LEASE_EXPIRED = "lease-expired"
    ALREADY_ALLOCATED = "already-allocated"
    MORE_THAN_AVAILABLE = "more-than-available"
    UNKNOWN_PLEDGE = "unknown-pledge"
    PLEDGE_CHANGED = "pledge-changed"


@dataclass(frozen=True)
class Pledge:
    """A request to hold `quantity` of a surplus for a need until `lease_until`."""

    id: str
    surplus: GlobalId
    need: GlobalId
    quantity: float
    lease_until: datetime


@dataclass(frozen=True)
class Decision:
    """The owner's answer: accepted (for `quantity`), or refused with a reason.

    `available` is what is left after the decision (PledgeAccepted's `remaining`).
    """

    pledge_id: str
    accepted: bool
    available: float
    reason: Refusal | None = None
    detail: str = ""
    quantity: float = 0.0


@dataclass
class SurplusLedger:
    """What one surplus has and which pledges hold part of it."""

    surplus: GlobalId
    quantity: float
    open: bool = True
    holds: dict[str, Hold] = field(default_factory=dict)

    def available(self, now: datetime) -> float:
        """The quantity not held by an accepted or still-leased pledge."""
        held = math.fsum(h.quantity for h in self.holds.values() if h.live(now))
        return max(0.0, self.quantity - held)

    def offer(self, pledge: Pledge, now: datetime, *, partial: bool = False) -> Decision:
        """Accept the pledge if it fits in what is left, else refuse it with the reason.

        With `partial`, a pledge for more than is left is accepted for what is left instead.
        """
        existing = self.holds.get(pledge.id)
        if existing is not None and existing.live(now):
            if existing.need != pledge.need or existing.quantity > pledge.quantity:
                return Decision(pledge.id, False, self.available(now), Refusal.PLEDGE_CHANGED,
                                "a pledge with this id was accepted with other terms")
            # The same pledge again (a retry, a relayed copy): the answer does not change.
            return Decision(pledge.id, True, self.available(now), quantity=existing.quantity)
        refusal = self._refusal(pledge, now, partial)
        if refusal is not None:
            reason, detail = refusal
            return Decision(pledge.id, False, self.available(now), reason, detail)
        quantity = min(pledge.quantity, self.available(now))
        self.holds[pledge.id] = Hold(self.surplus, pledge.need, quantity, pledge.lease_until)
        return Decision(pledge.id, True, self.available(now), quantity=quantity)

    def _refusal(self, pledge: Pledge, now: datetime, partial: bool) -> tuple[Refusal, str] | None:
        if pledge.surplus != self.surplus:
            return Refusal.WRONG_SURPLUS, f"this ledger is for {tuple(self.surplus)}"
        if not self.open:
            return Refusal.SURPLUS_CLOSED, "the surplus was withdrawn or has expired"
        if not (math.isfinite(pledge.quantity) and pledge.quantity > 0):
            return Refusal.BAD_QUANTITY, "the quantity must be a number greater than 0"
        if pledge.lease_until <= now:
            return Refusal.LEASE_EXPIRED, f"the lease ended at {pledge.lease_until.isoformat()}"
        available = self.available(now)
        if available <= 0:
            return Refusal.ALREADY_ALLOCATED, "all of it is pledged already"
        if pledge.quantity > available and not partial:
            return Refusal.MORE_THAN_AVAILABLE, f"only {available:g} is left"
        return None

    def confirm(self, pledge_id: str, now: datetime) -> Decision:
        """Make an accepted pledge firm; one whose lease lapsed must be pledged again."""
        hold = self.holds.get(pledge_id)
        if hold is None:
            return Decision(pledge_id, False, self.available(now), Refusal.UNKNOWN_PLEDGE, "no such pledge")
        if not hold.live(now):
            del self.holds[pledge_id]
            return Decision(pledge_id, False, self.available(now), Refusal.LEASE_EXPIRED,
                            "the lease ran out before it was confirmed; the quantity is back in the pool")
        self.holds[pledge_id] = Hold(hold.surplus, hold.need, hold.quantity, None)
        return Decision(pledge_id, True, self.available(now), quantity=hold.quantity)

    def release(self, pledge_id: str, now: datetime) -> Decision:
        """Give a pledge's quantity back (declined, cancelled or taken over)."""
        if self.holds.pop(pledge_id, None) is None:
            return Decision(pledge_id, False, self.available(now), Refusal.UNKNOWN_PLEDGE, "no such pledge")
        return Decision(pledge_id, True, self.available(now))

    def sweep(self, now: datetime) -> list[str]:
        """Forget holds whose lease lapsed; returns their pledge ids."""
        lapsed = [pid for pid, hold in self.holds.items() if not hold.live(now)]
        for pid in lapsed:
            del self.holds[pid]
        return lapsed

    def live_holds(self, now: datetime) -> list[Hold]:
        """The holds that count now, to give the matching engine."""
        return [hold for hold in self.holds.values() if hold.live(now)]
