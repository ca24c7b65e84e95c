"""The submission checks of stored inputs, read through an InputReader (here: files in a dict)."""

from __future__ import annotations

import io
import json
from typing import IO

import pytest

from spt_api.services import UsageError
from tests.evaluation.data import classification_rows, parquet_bytes
from workers.services.evaluation import checks
from workers.services.evaluation.checks import check_stored_inputs


class FakeReader:
    """An InputReader over in-memory files, counting the bytes it hands out."""

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.read = 0

    def head(self, ref: str, n: int) -> bytes:
        self.read += min(n, len(self.files[ref]))
        return self.files[ref][:n]

    def size(self, ref: str) -> int:
        return len(self.files[ref])

    def open(self, ref: str) -> IO[bytes]:
        self.read += len(self.files[ref])
        return io.BytesIO(self.files[ref])


COCO_TRUTH = {"images": [{"id": 1}], "categories": [{"id": 1}], "annotations": []}
PARQUET = parquet_bytes(classification_rows(0)[1])


def test_good_inputs_pass_and_a_large_table_is_read_by_its_head_only() -> None:
    big = b"id,label\n" + b"".join(b"%d,cat\n" % i for i in range(200_000))
    reader = FakeReader({"p": big, "t": PARQUET})
    check_stored_inputs("classification", {"predictions": "p", "truth": "t"}, reader)
    assert reader.read <= checks.HEAD_BYTES + 2 * len(PARQUET) < len(big)
    check_stored_inputs("detection", {"truth": "t"}, FakeReader({"t": json.dumps(COCO_TRUTH).encode()}))


class HeadOnlyReader(FakeReader):
    """A reader that fails any request but the head (which the core's reference check has already read)."""

    def size(self, ref: str) -> int:
        raise AssertionError("size asked of a file whose head is whole")

    def open(self, ref: str) -> IO[bytes]:
        raise AssertionError("a file whose head is whole opened again")


def test_a_small_input_is_checked_from_its_head_alone() -> None:
    reader = HeadOnlyReader({"p": b"id,label\n1,cat\n", "t": PARQUET})
    check_stored_inputs("classification", {"predictions": "p", "truth": "t"}, reader)
    check_stored_inputs("detection", {"truth": "t"}, HeadOnlyReader({"t": json.dumps(COCO_TRUTH).encode()}))
    with pytest.raises(UsageError, match="truth: a truncated Parquet file"):
        check_stored_inputs("classification", {"truth": "t"}, HeadOnlyReader({"t": PARQUET[:-100]}))
    with pytest.raises(UsageError, match="truth: the ground truth has no images"):
        check_stored_inputs(
            "detection", {"truth": "t"}, HeadOnlyReader({"t": json.dumps(COCO_TRUTH | {"images": []}).encode()})
        )


def test_a_large_json_is_left_to_the_worker(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(checks, "CHECKED_JSON_BYTES", 10)
    check_stored_inputs("detection", {"truth": "t"}, FakeReader({"t": b'  {"images": "not checked"}'}))
    with pytest.raises(UsageError, match=r"truth: not valid JSON \(it does not begin with"):
        check_stored_inputs("detection", {"truth": "t"}, FakeReader({"t": b"id,label\n1,cat\n2,dog\n"}))


@pytest.mark.parametrize(
    ("kind", "data", "message"),
    [
        ("classification", b"id,name\n1,x\n", "truth: the table lacks the column(s) 'label'"),
        ("classification", b"id,label\n", "truth: the table has a header but no rows"),
        ("classification", b"", "truth: the table is empty"),
        ("classification", b"\xff\xfe\x00garbage", "truth: not a CSV table in UTF-8, nor a Parquet file"),
        ("classification", PARQUET[:-100], "truth: a truncated Parquet file (no footer)"),
        ("detection", b"[1, 2", "truth: not valid JSON"),
        ("detection", json.dumps(COCO_TRUTH | {"images": []}).encode(), "truth: the ground truth has no images"),
    ],
)
def test_bad_stored_inputs_are_refused(kind: str, data: bytes, message: str) -> None:
    with pytest.raises(UsageError) as caught:
        check_stored_inputs(kind, {"truth": "t"}, FakeReader({"t": data}))
    assert str(caught.value).startswith(message) and caught.value.parameter == "truth"


def test_a_head_cut_inside_a_row_or_a_character_is_not_an_error() -> None:
    # The head ends between the two bytes of "é", inside a first row longer than the head.
    start = b"id,label\n1,"
    data = start + b"a" * (checks.HEAD_BYTES - len(start) - 1) + "é".encode() + b"\n2,dog\n"
    assert data[checks.HEAD_BYTES - 1 : checks.HEAD_BYTES + 1] == "é".encode()
    with pytest.raises(UnicodeDecodeError):
        data[: checks.HEAD_BYTES].decode()
    check_stored_inputs("classification", {"truth": "t"}, FakeReader({"t": data}))
    # The same bytes, whole, with a bad byte: refused.
    with pytest.raises(UsageError, match="not a CSV table in UTF-8"):
        check_stored_inputs("classification", {"truth": "t"}, FakeReader({"t": b"id,label\n1,\xff\xfe\n"}))
