"""Cross-node matching: propose pledges of surpluses to needs published by many nodes.

The engine is greedy and deterministic. Needs are served in order of category fit (the same
category first, then a related one), urgency (emergency first), expiry (soonest first) and
global id; each need takes from the nearest surpluses of its category and unit, cell by cell,
until it is met or nothing is left within reach. Allocation may be partial on both sides, and
the quantity taken is always the smaller of what the need still needs and what the surplus
still has, so neither is ever over-allocated. Whole-number quantities stay whole.

It only proposes: the node that owns a surplus decides on each pledge (see DESIGN.md).
Pledges already in flight are passed in as holds; a hold whose lease has run out no longer
counts, which is how unconfirmed pledges return to the pool.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from operator import attrgetter
from typing import TYPE_CHECKING, NamedTuple

import h3

from node.resources.categories import RELATED

# numpy is imported where it is used: a node's web process then loads it only when it matches.
if TYPE_CHECKING:
    import numpy as np
    import numpy.typing as npt

EARTH_RADIUS_KM = 6371.0088
DEFAULT_LEASE = timedelta(hours=2)
URGENCY_RANK: dict[str, int] = {"routine": 0, "soon": 1, "urgent": 2, "emergency": 3}
# Spellings people use for the same unit; matching needs one name per unit.
UNIT_ALIASES: dict[str, str] = {
    "kgs": "kg", "kilo": "kg", "kilos": "kg", "kilogram": "kg", "kilograms": "kg",
    "litre": "l", "litres": "l", "liter": "l", "liters": "l", "ltr": "l",
    "items": "item", "pcs": "item", "pc": "item", "piece": "item", "pieces": "item",
    "unit": "item", "units": "item",
    "hours": "hour", "hr": "hour", "hrs": "hour", "h": "hour",
    "portions": "portion", "meals": "portion", "meal": "portion",
    "people": "person", "persons": "person", "beds": "bed", "seats": "seat",
    "boxes": "box", "kits": "kit", "packs": "pack", "bottles": "bottle",
}
# How many nearest cells each need looks at first, and how many needs are ranked at once.
SHORTLIST = 24
SHORTLIST_CHUNK = 1024


class GlobalId(NamedTuple):
    """A need or surplus named across the network: the publishing node and its own id."""

    node: str
    resource: str


@dataclass(frozen=True, slots=True)
class Posting:
    """A need or a surplus as its node published it."""

    node: str
    resource: str
    category: str
    quantity: float
    unit: str
    cell: str
    urgency: str = "routine"
    expires_at: datetime | None = None
    gid: GlobalId = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        # Made once here rather than on every use: the engine reads it for each result entry.
        object.__setattr__(self, "gid", GlobalId(self.node, self.resource))


@dataclass(frozen=True, slots=True)
class Hold:
    """Quantity of a surplus already promised to a need; `lease_until=None` means accepted."""

    surplus: GlobalId
    need: GlobalId
    quantity: float
    lease_until: datetime | None = None

    def live(self, now: datetime) -> bool:
        """Whether the hold still counts: accepted, or offered and not yet expired."""
        return self.lease_until is None or self.lease_until > now


@dataclass(frozen=True, slots=True)
class Proposal:
    """A proposed pledge: this much of a surplus for a need, until `lease_until`."""

    surplus: GlobalId
    need: GlobalId
    quantity: float
    unit: str
    category: str
    distance_km: float
    exact_category: bool
    lease_until: datetime


@dataclass
class MatchResult:
    """The proposals, and what is still unmet or left over afterwards (only non-zero amounts)."""

    proposals: list[Proposal] = field(default_factory=list)
    unmet: dict[GlobalId, float] = field(default_factory=dict)
    left: dict[GlobalId, float] = field(default_factory=dict)


@functools.lru_cache(maxsize=4096)
def normal_unit(unit: str) -> str:
    """The one name of a unit that matching compares ("Kgs" and "kg" are the same)."""
    key = " ".join(unit.strip().lower().split())
    return UNIT_ALIASES.get(key, key)


def match(
    needs: Sequence[Posting],
    surpluses: Sequence[Posting],
    *,
    now: datetime,
    holds: Iterable[Hold] = (),
    related: Mapping[str, set[str]] | None = None,
    max_km: float | None = None,
    lease: timedelta = DEFAULT_LEASE,
) -> MatchResult:
    """Propose pledges of `surpluses` to `needs`; never more than either side has."""
    related = RELATED if related is None else related
    engine = _Engine(needs, surpluses, now, holds, max_km, lease)
    engine.run(related)
    return engine.result()


class _Pool:
    """The live surpluses of one category and unit, bucketed by cell."""

    def __init__(self, cells: list[str], members: list[list[int]], engine: _Engine) -> None:
        import numpy as np

        self.cells = cells
        # Each cell's surpluses, the soonest to expire first; the cursor skips used-up ones.
        self.members = members
        self.cursor = [0] * len(cells)
        self.count = [len(m) for m in members]  # surpluses with stock, per cell
        self.alive = np.array(self.count, dtype=np.int64)  # the same, for vector masks
        self.live_cells = len(cells)
        self.xyz = engine.unit_vectors(cells)
        # x, y and z as three contiguous rows: the products below then need no BLAS, whose
        # threads only get in the way on a small, busy machine for a product this thin.
        self.xyz_t = np.ascontiguousarray(self.xyz.T)

    def closeness(self, points: npt.NDArray[np.float64]) -> npt.NDArray[np.float64]:
        """Cosine of the angle between each point (row) and each cell: larger is nearer."""
        x, y, z = self.xyz_t
        result: npt.NDArray[np.float64] = points[..., 0:1] * x
        result += points[..., 1:2] * y
        result += points[..., 2:3] * z
        return result

    def nearest(self, points: npt.NDArray[np.float64], k: int) -> npt.NDArray[np.intp]:
        """For each point, the indices of its `k` nearest cells, nearest first."""
        import numpy as np

        k = min(k, len(self.cells))
        closeness = self.closeness(points)
        n = len(self.cells)
        if k < n:
            top = np.argpartition(closeness, n - k, axis=1)[:, n - k:]
        else:
            top = np.broadcast_to(np.arange(len(self.cells)), (len(points), k))
        ranked = np.take_along_axis(closeness, top, axis=1)
        # lexsort: the last key sorts first; ties go to the lower (alphabetically first) cell.
        order = np.lexsort((top, -ranked), axis=1)
        result: npt.NDArray[np.intp] = np.take_along_axis(top, order, axis=1)
        return result


class _Engine:
    """One matching run: the inputs, and the state of what is left on each side."""

    def __init__(
        self,
        needs: Sequence[Posting],
        surpluses: Sequence[Posting],
        now: datetime,
        holds: Iterable[Hold],
        max_km: float | None,
        lease: timedelta,
    ) -> None:
        import numpy as np

        self.now, self.lease_end = now, now + lease
        # Cosine of the largest angle allowed: cells whose closeness is below it are out of reach.
        self.reach = -2.0 if max_km is None else math.cos(min(max_km / EARTH_RADIUS_KM, math.pi))
        self.needs = _live(needs, now, "need")
        self.surpluses = _live(surpluses, now, "surplus")
        self.need_left = [p.quantity for p in self.needs]
        self.s_left = [p.quantity for p in self.surpluses]
        self.s_cell = [p.cell.lower() for p in self.surpluses]
        units = {unit: normal_unit(unit) for unit in {p.unit for p in self.surpluses}}
        self.s_unit = [units[p.unit] for p in self.surpluses]
        self._latlng: dict[str, tuple[float, float]] = {}
        self._apply_holds(list(holds))
        self.pools: dict[tuple[str, str], _Pool] = {}
        self.n_xyz = np.zeros((0, 3))
        self.n_cell: list[str] = []
        self.taken: list[tuple[int, int, float, bool]] = []  # need, surplus, quantity, exact

    def _apply_holds(self, holds: list[Hold]) -> None:
        if not holds:
            return
        need_at = {(p.node, p.resource): i for i, p in enumerate(self.needs)}
        surplus_at = {(p.node, p.resource): i for i, p in enumerate(self.surpluses)}
        for hold in holds:
            if not hold.live(self.now) or not hold.quantity > 0:
                continue
            if (i := need_at.get((hold.need.node, hold.need.resource))) is not None:
                self.need_left[i] = max(0.0, self.need_left[i] - hold.quantity)
            if (i := surplus_at.get((hold.surplus.node, hold.surplus.resource))) is not None:
                self.s_left[i] = max(0.0, self.s_left[i] - hold.quantity)

    def centre(self, cell: str) -> tuple[float, float]:
        """The latitude and longitude of a cell's centre, in degrees."""
        found = self._latlng.get(cell)
        if found is None:
            try:
                found = self._latlng[cell] = h3.cell_to_latlng(cell)
            except (ValueError, h3.H3BaseException):
                raise ValueError(f"not a valid H3 cell: {cell!r}") from None
        return found

    def unit_vectors(self, cells: list[str]) -> npt.NDArray[np.float64]:
        """The cells' centres as points on the unit sphere, one row each."""
        import numpy as np

        degrees = np.array([self.centre(cell) for cell in cells], dtype=np.float64).reshape(-1, 2)
        lat, lng = np.radians(degrees[:, 0]), np.radians(degrees[:, 1])
        return np.column_stack((np.cos(lat) * np.cos(lng), np.cos(lat) * np.sin(lng), np.sin(lat)))

    def run(self, related: Mapping[str, set[str]]) -> None:
        self.pools = self._pools()
        order = sorted(range(len(self.needs)), key=self._need_order)
        order = [i for i in order if self.need_left[i] > 0]
        n_unit = [normal_unit(p.unit) for p in self.needs]
        self.n_cell = [p.cell.lower() for p in self.needs]
        self.n_xyz = self.unit_vectors(self.n_cell)
        shortlist = self._shortlists(order, n_unit)
        for i in order:
            pool = self.pools.get((self.needs[i].category, n_unit[i]))
            if pool is not None:
                self._serve(i, [pool], True, shortlist.get(i))
        for i in order:
            if self.need_left[i] > 0:
                names = sorted(related.get(self.needs[i].category, set()) - {self.needs[i].category})
                pools = [p for name in names if (p := self.pools.get((name, n_unit[i]))) is not None]
                if pools:
                    self._serve(i, pools, False, None)

    def _pools(self) -> dict[tuple[str, str], _Pool]:
        """The surpluses with stock, by category and unit, then by cell, soonest-expiring first."""
        import numpy as np

        keep = [i for i, left in enumerate(self.s_left) if left > 0]
        if not keep:
            return {}
        keys = sorted({(self.surpluses[i].category, self.s_unit[i]) for i in keep})
        cells = sorted({self.s_cell[i] for i in keep})
        key_id = {key: n for n, key in enumerate(keys)}
        cell_id = {cell: n for n, cell in enumerate(cells)}
        k = np.array([key_id[(self.surpluses[i].category, self.s_unit[i])] for i in keep])
        c = np.array([cell_id[self.s_cell[i]] for i in keep])
        expires = [self.surpluses[i].expires_at for i in keep]
        e = np.array([t.timestamp() if t is not None else math.inf for t in expires])
        index = np.array(keep)
        # Sorted by pool, cell, expiry, then id order (the postings are already in id order).
        order = np.lexsort((index, e, c, k))
        k, c, index = k[order], c[order], index[order]
        starts = np.flatnonzero(np.r_[True, (k[1:] != k[:-1]) | (c[1:] != c[:-1])])
        groups = np.split(index, starts[1:])
        group_key, group_cell = k[starts].tolist(), c[starts].tolist()
        pools: dict[tuple[str, str], tuple[list[str], list[list[int]]]] = {}
        for key, cell, members in zip(group_key, group_cell, groups, strict=True):
            entry = pools.setdefault(keys[key], ([], []))
            entry[0].append(cells[cell])
            entry[1].append(members.tolist())
        return {key: _Pool(names, members, self) for key, (names, members) in pools.items()}

    def _shortlists(self, order: list[int], units: list[str]) -> dict[int, list[int]]:
        """Each need's nearest cells in its own pool, found for all needs at once."""
        by_pool: dict[tuple[str, str], list[int]] = {}
        for i in order:
            key = (self.needs[i].category, units[i])
            if key in self.pools:
                by_pool.setdefault(key, []).append(i)
        found: dict[int, list[int]] = {}
        for key, indices in by_pool.items():
            pool = self.pools[key]
            # Needs in the same cell share one shortlist.
            cells = sorted({self.n_cell[i] for i in indices})
            points = self.unit_vectors(cells)
            lists: dict[str, list[int]] = {}
            for start in range(0, len(cells), SHORTLIST_CHUNK):
                nearest = pool.nearest(points[start:start + SHORTLIST_CHUNK], SHORTLIST)
                lists.update(zip(cells[start:start + SHORTLIST_CHUNK], nearest.tolist(), strict=True))
            found.update((i, lists[self.n_cell[i]]) for i in indices)
        return found

    def _need_order(self, index: int) -> tuple[int, bool, datetime | float, str, str]:
        need = self.needs[index]
        expires = need.expires_at
        rank = -URGENCY_RANK.get(need.urgency, 0)
        return (rank, expires is None, expires or 0.0, need.node, need.resource)

    def _serve(self, i: int, pools: list[_Pool], exact: bool, shortlist: list[int] | None) -> None:
        """Give need `i` what the nearest live cells of `pools` have, nearest first."""
        import numpy as np

        point = self.n_xyz[i]
        if shortlist is not None:
            pool = pools[0]
            for cell in shortlist:
                if pool.count[cell] > 0 and not self._visit(i, pool, cell, point, exact):
                    return
            if len(shortlist) == len(pool.cells):
                return
        pools = [pool for pool in pools if pool.live_cells > 0]
        if not pools:
            return
        closeness = np.concatenate([pool.closeness(point) for pool in pools])
        alive = np.concatenate([pool.alive for pool in pools]) > 0
        candidates = np.flatnonzero(alive & (closeness >= self.reach))
        offsets = np.cumsum([0] + [len(pool.cells) for pool in pools])
        for flat in _nearest_first(candidates, closeness):
            which = int(np.searchsorted(offsets, flat, side="right")) - 1
            if not self._visit(i, pools[which], flat - int(offsets[which]), point, exact):
                return

    def _visit(self, i: int, pool: _Pool, cell: int, point: npt.NDArray[np.float64], exact: bool) -> bool:
        """Take from one cell's surpluses for need `i`; False once the need is met."""
        if self.reach > -1.0 and float(pool.xyz[cell] @ point) < self.reach:
            return True
        members = pool.members[cell]
        while self.need_left[i] > 0 and pool.cursor[cell] < len(members):
            s = members[pool.cursor[cell]]
            have = self.s_left[s]
            if have > 0:
                take = min(have, self.need_left[i])
                self.s_left[s] = have - take
                self.need_left[i] -= take
                self.taken.append((i, s, take, exact))
            if self.s_left[s] <= 0:
                pool.cursor[cell] += 1
                pool.count[cell] -= 1
                pool.alive[cell] = pool.count[cell]
                if pool.count[cell] == 0:
                    pool.live_cells -= 1
        return self.need_left[i] > 0

    def result(self) -> MatchResult:
        """The proposals in the order they were made, and what is left on each side."""
        proposals = self._proposals()
        unmet = {p.gid: left for p, left in zip(self.needs, self.need_left, strict=True) if left > 0}
        left = {p.gid: q for p, q in zip(self.surpluses, self.s_left, strict=True) if q > 0}
        return MatchResult(proposals, unmet, left)

    def _proposals(self) -> list[Proposal]:
        import numpy as np

        if not self.taken:
            return []
        a = self.unit_vectors([self.n_cell[i] for i, _, _, _ in self.taken])
        b = self.unit_vectors([self.s_cell[s] for _, s, _, _ in self.taken])
        chord = np.linalg.norm(a - b, axis=1)
        km = (2.0 * EARTH_RADIUS_KM * np.arcsin(np.clip(chord / 2.0, 0.0, 1.0))).round(3).tolist()
        proposals = []
        for (i, s, quantity, exact), distance in zip(self.taken, km, strict=True):
            need, surplus = self.needs[i], self.surpluses[s]
            lease_until = self.lease_end
            for end in (need.expires_at, surplus.expires_at):
                if end is not None and end < lease_until:
                    lease_until = end
            proposals.append(Proposal(
                surplus=surplus.gid, need=need.gid, quantity=quantity, unit=need.unit,
                category=need.category, distance_km=distance, exact_category=exact,
                lease_until=lease_until,
            ))
        return proposals


def _nearest_first(candidates: npt.NDArray[np.intp], closeness: npt.NDArray[np.float64]) -> Iterator[int]:
    """The candidates, nearest first; only the first few are sorted unless more are wanted."""
    import numpy as np

    nearer = -closeness[candidates]
    if candidates.size > SHORTLIST * 4:
        # Most needs are met from the nearest few cells: sort those, and the rest only if asked.
        k = SHORTLIST * 4
        split = np.argpartition(nearer, k - 1)
        head = split[:k]
        head = head[np.lexsort((candidates[head], nearer[head]))]
        yield from candidates[head].tolist()
        tail = split[k:]
        tail = tail[np.lexsort((candidates[tail], nearer[tail]))]
        yield from candidates[tail].tolist()
        return
    yield from candidates[np.lexsort((candidates, nearer))].tolist()


def _live(postings: Sequence[Posting], now: datetime, what: str) -> list[Posting]:
    """The postings that can take part: unexpired, with a positive finite quantity, in id order."""
    if len({p.gid for p in postings}) != len(postings):
        seen: set[GlobalId] = set()
        for posting in postings:
            if posting.gid in seen:
                raise ValueError(f"{what} {tuple(posting.gid)} is given twice")
            seen.add(posting.gid)
    live = [
        p for p in postings
        if (p.expires_at is None or p.expires_at > now) and p.quantity > 0 and math.isfinite(p.quantity)
    ]
    live.sort(key=attrgetter("gid"))
    return live
