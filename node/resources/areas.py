"""Areas as H3 cells: checking them, coarsening them, and distances between them."""

from __future__ import annotations

import h3

from node.errors import FieldError, ValidationFailed


def coarse_cell(cell: str, resolution: int, field: str = "h3_cell") -> str:
    """A valid H3 cell no finer than `resolution`; finer cells are replaced by their parent."""
    cell = cell.lower()
    if not h3.is_valid_cell(cell):
        raise ValidationFailed("invalid area", [FieldError(field, "not a valid H3 cell")])
    if h3.get_resolution(cell) > resolution:
        return str(h3.cell_to_parent(cell, resolution))
    return cell


def distance_km(a: str, b: str) -> float:
    """Great-circle distance between the centres of two cells, in kilometres."""
    if a == b:
        return 0.0
    return float(h3.great_circle_distance(h3.cell_to_latlng(a), h3.cell_to_latlng(b), unit="km"))


def is_coarse_enough(cell: str, resolution: int) -> bool:
    """Whether a cell is valid and no finer than `resolution` (used to check what is shared)."""
    return h3.is_valid_cell(cell) and h3.get_resolution(cell) <= resolution
