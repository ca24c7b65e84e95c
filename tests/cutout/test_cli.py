"""The cutout service's own commands (``spt-api maps``) come from its declaration (``ServiceSpec.cli``)."""

from __future__ import annotations

from pathlib import Path

import pytest

from spt_api.cli import build_parser, main


def test_maps_commands_are_the_cutout_declarations(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert build_parser().parse_args(["maps", "index", str(tmp_path)]).maps_command == "index"
    assert main(["maps", "demo", str(tmp_path), "--small"]) == 0
    assert (tmp_path / "catalogue.json").exists()
    assert main(["maps", "demo", str(tmp_path), "--small", "--if-missing"]) == 0
    assert "maps already in" in capsys.readouterr().out
    assert main(["maps", "index", str(tmp_path)]) == 0
    assert "map HDUs indexed" in capsys.readouterr().out
