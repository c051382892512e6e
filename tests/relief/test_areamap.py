"""The area map picture: a valid SVG with each cell drawn in its class's colour."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import h3
import pytest

from federation.relief.areamap import NO_NEED, SCALE, colour_classes, colour_for, render_svg, unmet_counts

SVG = "{http://www.w3.org/2000/svg}"
HOME = h3.latlng_to_cell(50.9375, 6.9603, 8)


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)


def test_each_cell_is_drawn_with_its_colour() -> None:
    cells = sorted(h3.grid_disk(HOME, 2))
    counts = {cell: float(i % 9) for i, cell in enumerate(cells)}
    root = parse(render_svg(counts, title="Flood & storm: unmet need"))
    classes = colour_classes(max(counts.values()))
    drawn = {p.get("data-cell"): p for p in root.iter(f"{SVG}polygon")}
    assert set(drawn) == set(cells)
    for cell, count in counts.items():
        polygon = drawn[cell]
        assert polygon.get("fill") == colour_for(count, classes)
        assert len(polygon.get("points", "").split()) in (6, 7)  # hexagons; pentagons have distortion
        assert polygon.findtext(f"{SVG}title") == f"area {cell}: {int(count)} unmet"
    assert drawn[cells[0]].get("fill") == NO_NEED
    assert drawn[cells[8]].get("fill") == SCALE[-1]


def test_accessible_title_description_and_legend() -> None:
    counts = {HOME: 4.0, h3.grid_ring(HOME, 1)[0]: 0.0}
    root = parse(render_svg(counts, title="Unmet need <Cologne>", id_prefix="m1"))
    assert root.get("role") == "img"
    assert root.get("aria-labelledby") == "m1-title m1-desc"
    assert root.findtext(f"{SVG}title") == "Unmet need <Cologne>"
    desc = root.findtext(f"{SVG}desc") or ""
    assert "2 areas, 1 with unmet need" in desc and HOME in desc
    legend = root.find(f".//{SVG}g[@class='legend']")
    assert legend is not None
    labels = [t.text for t in legend.iter(f"{SVG}text")]
    assert labels == ["no unmet need", "1", "2", "3", "4"]
    swatches = [r.get("fill") for r in legend.iter(f"{SVG}rect")]
    assert swatches[0] == NO_NEED and swatches[-1] == SCALE[-1]


def test_classes_cover_every_count() -> None:
    for most in (1, 2, 5, 7, 12, 100, 2.5, 0.3):
        classes = colour_classes(most)
        assert classes[0].colour == NO_NEED
        assert classes[-1].high == most
        assert [c.high for c in classes] == sorted(c.high for c in classes)
        assert len({c.colour for c in classes}) == len(classes)
    classes = colour_classes(12)
    assert [colour_for(n, classes) for n in (0, 1, 12, 40)] == [NO_NEED, SCALE[0], SCALE[-1], SCALE[-1]]


def test_empty_and_bad_input() -> None:
    root = parse(render_svg({}))
    assert "No areas to show" in "".join(root.itertext())
    with pytest.raises(ValueError, match="not a valid H3 cell"):
        render_svg({"nonsense": 1})


def test_coarser_cells_and_a_pentagon_draw() -> None:
    pentagon = h3.get_pentagons(2)[0]
    root = parse(render_svg({pentagon: 3, h3.cell_to_parent(HOME, 5): 1}))
    assert len(list(root.iter(f"{SVG}polygon"))) == 2


def test_unmet_counts_from_a_matching_run() -> None:
    from datetime import UTC, datetime

    from federation.relief.matching import Posting, match

    near = h3.grid_ring(HOME, 1)[0]
    needs = [
        Posting("a", "n1", "food", 5, "kg", HOME),
        Posting("a", "n2", "food", 5, "kg", HOME),
        Posting("b", "n3", "food", 1, "kg", near, urgency="emergency"),
    ]
    result = match(needs, [Posting("c", "s", "food", 6, "kg", near)], now=datetime(2024, 7, 14, tzinfo=UTC))
    assert unmet_counts(needs, result.unmet) == {HOME: 1, near: 0}
    parent = h3.cell_to_parent(HOME, 6)
    assert unmet_counts(needs, result.unmet, resolution=6) == {parent: 1}
    root = parse(render_svg(unmet_counts(needs, result.unmet)))
    fills = {p.get("data-cell"): p.get("fill") for p in root.iter(f"{SVG}polygon")}
    assert fills == {HOME: SCALE[0], near: NO_NEED}
