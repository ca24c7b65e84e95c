"""Documentation stays true: generated files are current, every setting is documented."""

from __future__ import annotations

from pathlib import Path

from spt_api.config import Settings
from spt_api.docs import api_markdown, configuration_markdown

ROOT = Path(__file__).resolve().parents[2]


def test_generated_docs_are_current() -> None:
    assert (ROOT / "docs/api.md").read_text() == api_markdown(), "run: python -m spt_api.docs"
    assert (ROOT / "docs/configuration.md").read_text() == configuration_markdown(), "run: python -m spt_api.docs"


def test_every_setting_is_documented() -> None:
    configuration = (ROOT / "docs/configuration.md").read_text()
    missing = [name for name in Settings.model_fields if f"SPT_API_{name.upper()}" not in configuration]
    assert not missing


def test_readme_has_the_two_commands() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "make run" in readme and "make test" in readme
