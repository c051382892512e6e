"""The import-csv and export commands."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner
from flask import Flask

from node.cli import NodeContext, cli
from tests.formats.helpers import CELL, post


def invoke(app: Flask, *args: str) -> Any:
    """Run a command against the test app (its settings and database), as `mutualaid` would."""
    node = NodeContext(None)
    node._app = app
    command = cli.commands[args[0]]
    return CliRunner().invoke(command, list(args[1:]), obj=node)


def test_import_reports_what_it_did(app: Flask, make_member: Any, tmp_path: Path) -> None:
    alice = make_member("alice")
    path = tmp_path / "sheet.csv"
    path.write_text(
        "kind;category;title;quantity;h3_cell\n"
        f"need;food;Rice;2;{CELL}\n"
        f"need;food;Beans;-3;{CELL}\n"
        f"offer;tools;Pump;1;{CELL}\n"
    )
    result = invoke(app, "import-csv", str(path), "--member", "alice")
    assert result.exit_code == 1, result.output
    assert "Importing rows" in result.output
    assert "Imported 2 of 3 rows as alice's needs and offers." in result.output
    assert "Rejected 1 rows (nothing of them was written):" in result.output
    assert "row 3, quantity: Input should be greater than 0" in result.output
    assert [n["title"] for n in alice.get("/needs").json["items"]] == ["Rice"]

    clean = tmp_path / "clean.csv"
    clean.write_text(f"category,title,h3_cell\nfood,Bread,{CELL}\n")
    result = invoke(app, "import-csv", str(clean), "--member", "alice", "--kind", "offer", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Dry run: 1 of 1 rows would be imported for alice; nothing was written." in result.output
    assert "Rejected 0 rows." in result.output
    assert len(alice.get("/offers").json["items"]) == 1


def test_import_refuses_bad_files_and_members(app: Flask, make_member: Any, tmp_path: Path) -> None:
    make_member("alice")
    wrong = tmp_path / "wrong.csv"
    wrong.write_text(f"kind,category,title,colour,h3_cell\nneed,food,Rice,red,{CELL}\n")
    result = invoke(app, "import-csv", str(wrong), "--member", "alice")
    assert result.exit_code == 1
    assert "the header row has wrong columns" in result.output and "colour: unknown column" in result.output
    good = tmp_path / "good.csv"
    good.write_text(f"kind,category,title,h3_cell\nneed,food,Rice,{CELL}\n")
    result = invoke(app, "import-csv", str(good), "--member", "nobody")
    assert result.exit_code == 1 and "no member with the handle 'nobody'" in result.output


def test_export_writes_each_format(app: Flask, make_member: Any, tmp_path: Path) -> None:
    alice = make_member("alice")
    post(alice, "needs", title="Water")
    post(alice, "offers", title="Tent", category="shelter", unit="tent")
    out = tmp_path / "needs.hxl.csv"
    result = invoke(app, "export", "--kind", "needs", "--output", str(out))
    assert result.exit_code == 0, result.output
    assert "Exported 1 open needs as HXL." in result.output
    assert "#item+name" in out.read_text() and "Water" in out.read_text() and "Tent" not in out.read_text()
    result = invoke(app, "export", "--format", "jsonld")
    assert '"vf:Intent"' in result.output and "Exported 2 open listings" in result.output
    result = invoke(app, "export", "--format", "summary")
    assert "#affected+num" in result.output
    result = invoke(app, "export", "--format", "csv", "--kind", "offers")
    assert "Tent" in result.output and "Water" not in result.output
