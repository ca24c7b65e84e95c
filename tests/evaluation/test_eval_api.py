"""Evaluation jobs end to end through a real server (embedded backend), and every bad input's answer.

Inputs are uploaded as multipart file parts (stored byte for byte: Parquet too) or named by their key
under a shared prefix (``datasets/``). What the API can check cheaply is a 400 naming the parameter;
what only the worker sees ends the job in ERROR with a message, never a 500.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spt_api.storage import create_object_store, result_key
from spt_api.testing import ServerThread, start_server_thread
from tests.api.uws_helpers import JSON, wait_until_final
from tests.conftest import embedded_settings
from tests.evaluation.data import classification_rows, coco_pair, csv_text, parquet_bytes
from workers.services.evaluation import checks

PNG = b"\x89PNG\r\n\x1a\n"
CSV_TRUTH = "id,label\n1,cat\n2,dog\n3,cat\n"
CSV_PREDICTIONS = "id,label,score\n1,cat,0.9\n2,cat,0.6\n3,cat,0.8\n4,dog,0.5\n"
COCO_TRUTH = {
    "images": [{"id": 1}],
    "categories": [{"id": 1, "name": "galaxy"}],
    "annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10]}],
}
COCO_PREDICTIONS = [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 10, 10], "score": 0.9}]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("evaluation"),
        services="evaluation",
        max_body_size=4 << 20,
        input_shared_prefixes="datasets/",
        # Every result in the storage, small reports too: a test names another job's stored result as input.
        inline_result_max=0,
    )
    running = start_server_thread(settings)
    yield running
    running.stop()


@pytest.fixture(scope="module")
def stored_truth(server: ServerThread) -> str:
    """A truth table already in the store, named by its key."""
    key = "datasets/truth.csv"
    create_object_store(server.settings).put_bytes(key, CSV_TRUTH.encode())
    return key


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60, follow_redirects=False) as c:
        yield c


def _files(**inputs: str | bytes) -> dict[str, tuple[str, str | bytes]]:
    """Multipart file parts, named as the tools that wrote them would."""
    suffix = {"predictions": "p", "truth": "t"}
    return {name: (f"{suffix[name]}.{'parquet' if isinstance(v, bytes) else 'txt'}", v) for name, v in inputs.items()}


def _submit(client: httpx.Client, kind: str, refs: dict[str, str] | None = None, **inputs: str | bytes) -> Any:
    data = {"kind": kind, "PHASE": "RUN", **(refs or {})}
    return client.post("/api/evaluation/jobs", data=data, files=_files(**inputs) or None, headers=JSON)


def _run(client: httpx.Client, kind: str, refs: dict[str, str] | None = None, **inputs: str | bytes) -> Any:
    created = _submit(client, kind, refs, **inputs)
    assert created.status_code == 303, created.text
    url = created.headers["Location"]
    return url, wait_until_final(client, url, 60)


def _report(client: httpx.Client, url: str) -> dict[str, Any]:
    response = client.get(f"{url}/results/report", follow_redirects=True)
    assert response.status_code == 200 and response.headers["Content-Type"].startswith("application/json")
    report: dict[str, Any] = response.json()
    return report


def test_a_classification_job_writes_the_report_and_both_plots(client: httpx.Client) -> None:
    predictions, truth = classification_rows(5)
    url, job = _run(client, "classification", predictions=csv_text(predictions), truth=csv_text(truth))
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    assert sorted(r["id"] for r in job["results"]) == ["confusion", "pr_curve", "report"]
    report = _report(client, url)
    assert report["kind"] == "classification" and report["samples"] == 300
    assert 0.6 < report["accuracy"] < 0.9 and report["unmatched"]["truth_without_prediction"] == 0
    for name in ("confusion", "pr_curve"):
        image = client.get(f"{url}/results/{name}", follow_redirects=True)
        assert image.headers["Content-Type"] == "image/png" and image.content.startswith(PNG)


def test_parquet_uploads_give_the_report_of_the_same_csv(client: httpx.Client) -> None:
    predictions, truth = classification_rows(6)
    url, job = _run(client, "classification", predictions=parquet_bytes(predictions), truth=parquet_bytes(truth))
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    from_csv, _ = _run(client, "classification", predictions=csv_text(predictions), truth=csv_text(truth))
    assert _report(client, url) == _report(client, from_csv)


def test_unmatched_ids_are_counted_and_left_out(client: httpx.Client) -> None:
    url, job = _run(client, "classification", predictions=CSV_PREDICTIONS, truth=CSV_TRUTH)
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    report = _report(client, url)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["unmatched"]["predictions_without_truth"] == 1
    assert report["unmatched"]["examples"]["predictions_without_truth"] == ["4"]
    assert "1 prediction id(s) have no truth and are not scored" in report["notes"]


def test_a_detection_job_reports_coco_figures_and_the_matching(client: httpx.Client) -> None:
    truth, detections = coco_pair(4)
    url, job = _run(client, "detection", predictions=json.dumps(detections), truth=json.dumps(truth))
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    report = _report(client, url)
    assert report["kind"] == "detection" and 0 < report["coco"]["mAP"] < 1
    assert [c["name"] for c in report["per_class"]] == ["galaxy", "star", "cluster"]
    assert report["matching"]["tp"] > 0 and report["confusion"]["labels"][-1] == "background"
    image = client.get(f"{url}/results/confusion", follow_redirects=True)
    assert image.content.startswith(PNG)


def test_a_stored_input_is_named_by_its_key(server: ServerThread, client: httpx.Client) -> None:
    predictions, truth = classification_rows(7)
    create_object_store(server.settings).put_bytes("datasets/truth.parquet", parquet_bytes(truth))
    url, job = _run(
        client, "classification", {"truth": "datasets/truth.parquet"}, predictions=csv_text(predictions)
    )
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    assert _report(client, url)["samples"] == 300


def test_sync_answers_with_the_results(client: httpx.Client) -> None:
    response = client.post(
        "/api/evaluation/sync",
        data={"kind": "detection"},
        files=_files(truth=json.dumps(COCO_TRUTH), predictions=json.dumps(COCO_PREDICTIONS)),
    )
    assert response.status_code == 303 and response.headers["Location"].endswith("/results")
    results = client.get(response.headers["Location"], headers=JSON).json()
    assert sorted(r["id"] for r in results) == ["confusion", "pr_curve", "report"]


def _table(**changes: str | bytes) -> tuple[str, dict[str, str | bytes]]:
    return "classification", {"predictions": CSV_PREDICTIONS, "truth": CSV_TRUTH, **changes}


def _coco(**changes: Any) -> tuple[str, dict[str, str | bytes]]:
    inputs = {"predictions": COCO_PREDICTIONS, "truth": COCO_TRUTH, **changes}
    return "detection", {k: v if isinstance(v, str | bytes) else json.dumps(v) for k, v in inputs.items()}


PARQUET = parquet_bytes(classification_rows(0)[1])
BAD_SUBMISSIONS = [
    (
        _table(truth="id,name\n1,cat\n"),
        "truth",
        "truth: the table lacks the column(s) 'label' (its header is 'id', 'name')",
    ),
    (_table(predictions="id,label\n"), "predictions", "predictions: the table has a header but no rows"),
    (_table(truth="   ,  \n\n"), "truth", "truth: the table is empty"),
    (_table(truth=b"\xff\xfe\x00 not text"), "truth", "truth: not a CSV table in UTF-8, nor a Parquet file"),
    (_table(truth=PARQUET[:-50]), "truth", "truth: a truncated Parquet file (no footer)"),
    (_coco(truth='{"images": [}'), "truth", "truth: not valid JSON: Expecting value"),
    (_coco(truth=[]), "truth", "truth: COCO ground truth is a JSON object with images, annotations and categories"),
    (
        _coco(truth={"images": [{"id": 1}], "annotations": []}),
        "truth",
        "truth: COCO ground truth needs a 'categories' list",
    ),
    (_coco(truth=COCO_TRUTH | {"images": []}), "truth", "truth: the ground truth has no images"),
    (
        _coco(truth=COCO_TRUTH | {"annotations": [{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1]}]}),
        "truth",
        "truth: annotations[0] has a bbox that is not four numbers [x, y, width, height]",
    ),
    (
        _coco(truth=COCO_TRUTH | {"annotations": [{"image_id": 9, "category_id": 1, "bbox": [0, 0, 1, 1]}]}),
        "truth",
        "truth: annotations name image ids absent from its images: 9",
    ),
    (_coco(predictions={"detections": []}), "predictions", "predictions: COCO detections are a JSON list of"),
    (
        _coco(predictions=[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1]}]),
        "predictions",
        "predictions: detection 0 has no 'score'",
    ),
    (
        _coco(predictions=[{"image_id": 1, "category_id": 1, "bbox": [0, 0, 1, 1], "score": "high"}]),
        "predictions",
        "predictions: detection 0 has a score that is not a number",
    ),
    (
        _coco(predictions=[{"image_id": 2, "category_id": 1, "bbox": [0, 0, 1, 1], "score": 1}]),
        "predictions",
        "predictions: detections name image ids absent from the ground truth: 2",
    ),
    (
        _coco(predictions=[{"image_id": 1, "category_id": 5, "bbox": [0, 0, 1, 1], "score": 1}]),
        "predictions",
        "predictions: detections name category ids absent from the ground truth: 5",
    ),
]


@pytest.mark.parametrize(("request_", "parameter", "message"), BAD_SUBMISSIONS)
def test_bad_input_files_are_refused_at_submission(
    client: httpx.Client, request_: tuple[str, dict[str, str | bytes]], parameter: str, message: str
) -> None:
    kind, inputs = request_
    response = _submit(client, kind, **inputs)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == parameter and body["message"].startswith(message), body


@pytest.mark.parametrize(
    ("data", "parameter", "message"),
    [
        ({"kind": "segmentation"}, "kind", "invalid parameter 'kind': Input should be 'classification' or 'detection'"),
        (
            {"kind": "classification", "truth": "inputs/t.csv"},
            "predictions",
            "invalid parameter 'predictions': Field required",
        ),
        (
            {"kind": "classification", "predictions": "inputs/none/p.csv"},
            "predictions",
            "parameter 'predictions': no stored input 'inputs/none/p.csv'",
        ),
        (
            {"kind": "classification", "predictions": CSV_PREDICTIONS},
            "predictions",
            "parameter 'predictions': no stored input 'id,label",  # text in a form field is not a file: upload it
        ),
        (
            {"kind": "classification", "predictions": "datasets/truth.csv", "iou_threshold": "0"},
            "iou_threshold",
            "invalid parameter 'iou_threshold': Input should be greater than 0",
        ),
    ],
)
def test_bad_parameters_are_refused_at_submission(
    client: httpx.Client, stored_truth: str, data: dict[str, str], parameter: str, message: str
) -> None:
    response = client.post("/api/evaluation/jobs", data={"truth": stored_truth, **data}, headers=JSON)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == parameter and body["message"].startswith(message), body


def test_another_jobs_results_are_not_an_input(server: ServerThread, client: httpx.Client) -> None:
    url, _ = _run(client, "classification", predictions=CSV_PREDICTIONS, truth=CSV_TRUTH)
    key = result_key("evaluation", url.rsplit("/", 1)[-1], "report.json")
    assert create_object_store(server.settings).exists(key)  # it is there, and refused all the same
    response = _submit(client, "classification", {"truth": key}, predictions=CSV_PREDICTIONS)
    assert response.status_code == 400
    body = response.json()
    assert body["parameter"] == "truth", body
    assert body["message"].startswith(f"parameter 'truth': no stored input {key!r} that you may read"), body


BAD_AT_RUN = [
    (
        "classification",
        parquet_bytes([{"id": "1", "name": "cat"}]),
        "predictions: the table lacks the column(s) label (it has id, name)",
    ),
    (
        "classification",
        parquet_bytes([{"id": "1", "label": None}, {"id": "2", "label": "x"}]),
        "predictions: 1 row(s) have no label",
    ),
    ("classification", "id,label\n1,x\n1,y\n", "predictions: ids must be unique; repeated: 1"),
    ("detection", '{"images": []}', "predictions: COCO detections are a JSON list"),
]


@pytest.mark.parametrize(("kind", "predictions", "message"), BAD_AT_RUN)
def test_what_only_the_worker_sees_ends_the_job_in_error(
    client: httpx.Client, monkeypatch: pytest.MonkeyPatch, kind: str, predictions: str | bytes, message: str
) -> None:
    # The API process checks JSON files up to CHECKED_JSON_BYTES; above, the worker does (its own process).
    monkeypatch.setattr(checks, "CHECKED_JSON_BYTES", 8)
    truth = CSV_TRUTH if kind == "classification" else json.dumps(COCO_TRUTH)
    url, job = _run(client, kind, predictions=predictions, truth=truth)
    assert job["phase"] == "ERROR", job
    assert job["errorSummary"]["type"] == "fatal" and job["errorSummary"]["message"].startswith(message), job
    error = client.get(f"{url}/error")
    assert error.status_code == 200 and message in error.text


def test_the_api_side_checks_import_nothing_heavy() -> None:
    """The declaration and its submission checks run in the API process: no numpy, pyarrow or pycocotools."""
    code = (
        "import io, sys, json\n"
        "from workers.services.evaluation.checks import check_stored_inputs\n"
        "from workers.services.evaluation.params import SERVICE, check_inputs\n"
        "class R:\n"
        f"    files = {{'p': json.dumps({COCO_PREDICTIONS!r}).encode(), 't': json.dumps({COCO_TRUTH!r}).encode(),"
        f" 'c': {CSV_TRUTH!r}.encode()}}\n"
        "    def head(self, ref, n): return self.files[ref][:n]\n"
        "    def size(self, ref): return len(self.files[ref])\n"
        "    def open(self, ref): return io.BytesIO(self.files[ref])\n"
        "check_stored_inputs('detection', {'predictions': 'p', 'truth': 't'}, R())\n"
        "check_stored_inputs('classification', {'predictions': 'c', 'truth': 'c'}, R())\n"
        "print(sorted(m for m in ('numpy', 'pyarrow', 'pycocotools', 'scipy', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
