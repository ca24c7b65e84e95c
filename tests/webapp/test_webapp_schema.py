"""The components' tests (vitest) build the cutout form from a copy of the schema: it must be the real one."""

from __future__ import annotations

import json
from pathlib import Path

FIXTURE = Path(__file__).parents[2] / "webapp" / "src" / "test" / "cutout-schema.json"


def test_the_vitest_schema_fixture_is_the_cutout_schema() -> None:
    """The components' tests build their form from a copy of the schema: it must be the real one."""
    from workers.services.cutout.params import SERVICE

    assert json.loads(FIXTURE.read_text()) == SERVICE.parameter_schema(), (
        "webapp/src/test/cutout-schema.json is stale: regenerate it with "
        "python -c 'import json; from workers.services.cutout.params import SERVICE; "
        "print(json.dumps(SERVICE.parameter_schema(), indent=1))' > webapp/src/test/cutout-schema.json"
    )
