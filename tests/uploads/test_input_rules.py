"""The rules of :mod:`spt_api.input_access` on their own: which reference a job may take, table-driven."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from spt_api.config import Settings
from spt_api.input_access import check_access
from spt_api.uws.errors import UsageError

JOB = "0123456789abcdef0123"


def settings(tmp_path: Path, **values: str) -> Settings:
    return Settings(data_dir=tmp_path, **values)


@pytest.mark.parametrize(
    ("ref", "allowed"),
    [
        (f"inputs/{JOB}/a.npy", True),  # the job's own upload
        ("inputs/ffffffffffffffffffff/a.npy", False),  # another job's: only as a checked copy
        ("datasets/x.npy", True),
        ("datasets/sub/x.npy", True),
        ("datasetsX/x.npy", False),  # a prefix is a folder, not half a name
        ("datasets", False),
        ("cutout/job/result.fits", False),  # results are no input
        ("s3://public/data/x.npy", True),
        ("s3://public/data/sub/x.npy", True),
        ("s3://public/database/x.npy", False),
        ("s3://public/x.npy", False),
        ("s3://other/data/x.npy", False),
        ("s3://store/jobs/inputs/x/a.npy", False),  # the API's own store, whatever the prefixes say
    ],
)
def test_which_references_a_job_may_take(tmp_path: Path, ref: str, allowed: bool) -> None:
    rules = settings(
        tmp_path,
        input_shared_prefixes="datasets",
        input_url_prefixes="s3://public/data/, s3://store/",
        storage_url="s3://store/jobs",
    )
    if allowed:
        check_access(ref, "blob", rules, JOB)
    else:
        with pytest.raises(UsageError) as caught:
            check_access(ref, "blob", rules, JOB)
        assert caught.value.parameter == "blob"


def test_no_url_is_allowed_by_default(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="none are allowed here"):
        check_access("s3://public/data/x.npy", "blob", settings(tmp_path), JOB)


@pytest.mark.parametrize("prefix", ["inputs/", "inputs", "/", "datasets/../inputs", "ok/,inputs/x"])
def test_a_shared_prefix_cannot_open_the_uploads(tmp_path: Path, prefix: str) -> None:
    with pytest.raises(ValidationError, match="SPT_API_INPUT_SHARED_PREFIXES"):
        settings(tmp_path, input_shared_prefixes=prefix)
