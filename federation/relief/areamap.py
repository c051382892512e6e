"""A map picture of an area's H3 cells coloured by unmet need, as a self-contained SVG.

No tiles and no network: the cells are drawn from their own boundaries, so the picture works
on a node with no internet and shows no more detail than the cells themselves.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from xml.sax.saxutils import escape

import h3

from federation.relief.matching import GlobalId, Posting

NO_NEED = "#eeeeee"
# A sequential scale from light to dark (ColorBrewer Reds); darker means more unmet need.
SCALE = ("#fee5d9", "#fcae91", "#fb6a4a", "#de2d26", "#a50f15")
PADDING = 12
LEGEND_ROW = 22
Projection = Callable[[float, float], tuple[float, float]]


@dataclass(frozen=True)
class ColourClass:
    """A range of counts, inclusive at both ends, and its colour."""

    low: float
    high: float
    colour: str

    @property
    def label(self) -> str:
        if self.high <= 0:
            return "no unmet need"
        if self.low == self.high:
            return _number(self.low)
        return f"{_number(self.low)} to {_number(self.high)}"


def colour_classes(most: float) -> list[ColourClass]:
    """The legend for counts from 0 to `most`: a grey class for none, then up to five colours."""
    classes = [ColourClass(0, 0, NO_NEED)]
    if most <= 0:
        return classes
    whole = float(most).is_integer()
    steps = min(len(SCALE), math.ceil(most)) if whole else len(SCALE)
    width = most / steps
    low = 1.0 if whole else 0.0
    for n in range(steps):
        high = most if n == steps - 1 else (math.ceil(width * (n + 1)) if whole else width * (n + 1))
        classes.append(ColourClass(low, high, SCALE[n if steps == len(SCALE) else _spread(n, steps)]))
        low = high + 1 if whole else high
    return classes


def _spread(n: int, steps: int) -> int:
    # With fewer classes than colours, keep the ends of the scale so contrast stays high.
    return round(n * (len(SCALE) - 1) / max(1, steps - 1))


def colour_for(count: float, classes: Sequence[ColourClass]) -> str:
    """The colour of the class a count falls in."""
    if count <= 0:
        return NO_NEED
    for cls in classes[1:]:
        if count <= cls.high:
            return cls.colour
    return classes[-1].colour


def unmet_counts(
    needs: Iterable[Posting], unmet: Mapping[GlobalId, float], resolution: int | None = None
) -> dict[str, int]:
    """How many needs are still unmet in each cell, coarsened to `resolution` if given.

    `unmet` is `MatchResult.unmet`; needs that are fully met still show, with 0, so the map
    shows the whole area and not only its trouble spots.
    """
    counts: dict[str, int] = {}
    for need in needs:
        cell = need.cell.lower()
        if resolution is not None and h3.get_resolution(cell) > resolution:
            cell = str(h3.cell_to_parent(cell, resolution))
        counts[cell] = counts.get(cell, 0) + (1 if unmet.get(need.gid, 0) > 0 else 0)
    return counts


def render_svg(
    counts: Mapping[str, float],
    *,
    title: str = "Unmet need by area",
    description: str | None = None,
    width: int = 640,
    id_prefix: str = "areamap",
) -> str:
    """An SVG map of the cells in `counts` (cell -> unmet need), with a legend."""
    cells = sorted(counts)
    for cell in cells:
        if not h3.is_valid_cell(cell):
            raise ValueError(f"not a valid H3 cell: {cell!r}")
    most = max((counts[c] for c in cells), default=0)
    classes = colour_classes(most)
    shapes = {cell: [tuple(p) for p in h3.cell_to_boundary(cell)] for cell in cells}
    project, map_height = _projection(shapes, width)
    legend_top = map_height + PADDING
    height = legend_top + LEGEND_ROW * len(classes) + PADDING
    desc = description or _describe(counts, cells)
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" role="img" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" aria-labelledby="{id_prefix}-title {id_prefix}-desc">',
        f'<title id="{id_prefix}-title">{escape(title)}</title>',
        f'<desc id="{id_prefix}-desc">{escape(desc)}</desc>',
        f'<rect width="{width}" height="{height}" fill="#ffffff"/>',
        '<g class="cells" stroke="#ffffff" stroke-width="1">',
    ]
    for cell in cells:
        count = counts[cell]
        points = " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(lat, lng) for lat, lng in shapes[cell]))
        parts.append(
            f'<polygon points="{points}" fill="{colour_for(count, classes)}" '
            f'data-cell="{cell}" data-count="{_number(count)}">'
            f"<title>{escape(f'area {cell}: {_number(count)} unmet')}</title></polygon>"
        )
    if not cells:
        parts.append(f'<text x="{width / 2:.0f}" y="{map_height / 2:.0f}" text-anchor="middle" '
                     'font-family="sans-serif" font-size="14">No areas to show</text>')
    parts.append("</g>")
    parts.extend(_legend(classes, legend_top))
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def _projection(
    shapes: Mapping[str, list[tuple[float, ...]]], width: int
) -> tuple[Projection, float]:
    """A function from (lat, lng) to SVG (x, y) that fits every shape, and the map's height."""
    points = [p for shape in shapes.values() for p in shape]
    if not points:
        return (lambda lat, lng: (0.0, 0.0)), width / 2
    lats = [p[0] for p in points]
    lngs = [p[1] for p in points]
    # Equirectangular, scaled by the cosine of the middle latitude: true enough for a region.
    squeeze = math.cos(math.radians((min(lats) + max(lats)) / 2))
    span_x = max((max(lngs) - min(lngs)) * squeeze, 1e-9)
    span_y = max(max(lats) - min(lats), 1e-9)
    scale = (width - 2 * PADDING) / span_x
    height = min(span_y * scale, 2.0 * width)
    scale = min(scale, (height or 1) / span_y)
    west, north = min(lngs), max(lats)

    def project(lat: float, lng: float) -> tuple[float, float]:
        return PADDING + (lng - west) * squeeze * scale, PADDING + (north - lat) * scale

    return project, height + 2 * PADDING



def _legend(classes: Sequence[ColourClass], top: float) -> list[str]:
    rows = [f'<g class="legend" font-family="sans-serif" font-size="13" '
            f'transform="translate({PADDING},{top:.0f})">']
    for n, cls in enumerate(classes):
        y = n * LEGEND_ROW
        rows.append(
            f'<rect x="0" y="{y}" width="18" height="16" fill="{cls.colour}" stroke="#555555" '
            f'data-low="{_number(cls.low)}" data-high="{_number(cls.high)}"/>'
            f'<text x="26" y="{y + 13}" fill="#111111">{escape(cls.label)}</text>'
        )
    rows.append("</g>")
    return rows


def _describe(counts: Mapping[str, float], cells: list[str]) -> str:
    if not cells:
        return "No areas."
    with_need = [c for c in cells if counts[c] > 0]
    text = f"{len(cells)} areas, {len(with_need)} with unmet need."
    if with_need:
        worst = max(with_need, key=lambda c: (counts[c], c))
        text += f" The most unmet need, {_number(counts[worst])}, is in area {worst}."
    return text


def _number(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else f"{value:.1f}"

