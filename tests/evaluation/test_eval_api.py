"""Evaluation jobs end to end through a real server (embedded backend), and every bad input's answer."""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from spt_api.storage import create_object_store
from spt_api.testing import ServerThread, start_server_thread
from tests.api.uws_helpers import JSON, wait_until_final
from tests.conftest import embedded_settings
from tests.evaluation.data import classification_rows, coco_pair, csv_text, parquet_bytes

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
    settings = embedded_settings(tmp_path_factory.mktemp("evaluation"), services="evaluation", max_body_size=4 << 20)
    running = start_server_thread(settings)
    yield running
    running.stop()


@pytest.fixture
def client(server: ServerThread) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=server.base_url, timeout=60, follow_redirects=False) as c:
        yield c


def _run(client: httpx.Client, **request: Any) -> tuple[str, dict[str, Any]]:
    request.setdefault("data", {})["PHASE"] = "RUN"
    created = client.post("/api/evaluation/jobs", **request)
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
    url, job = _run(client, data={"kind": "classification", "predictions": csv_text(predictions),
                                  "truth": csv_text(truth)})  # fmt: skip
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    assert sorted(r["id"] for r in job["results"]) == ["confusion", "pr_curve", "report"]
    report = _report(client, url)
    assert report["kind"] == "classification" and report["samples"] == 300
    assert 0.6 < report["accuracy"] < 0.9 and report["unmatched"]["truth_without_prediction"] == 0
    for name in ("confusion", "pr_curve"):
        image = client.get(f"{url}/results/{name}", follow_redirects=True)
        assert image.headers["Content-Type"] == "image/png" and image.content.startswith(PNG)


def test_uploaded_files_and_unmatched_ids_are_counted(client: httpx.Client) -> None:
    url, job = _run(client, data={"kind": "classification"},
                    files={"predictions": ("p.csv", CSV_PREDICTIONS), "truth": ("t.csv", CSV_TRUTH)})  # fmt: skip
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    report = _report(client, url)
    assert report["accuracy"] == pytest.approx(2 / 3)
    assert report["unmatched"]["predictions_without_truth"] == 1
    assert report["unmatched"]["examples"]["predictions_without_truth"] == ["4"]
    assert "1 prediction id(s) have no truth and are not scored" in report["notes"]


def test_a_detection_job_reports_coco_figures_and_the_matching(client: httpx.Client) -> None:
    truth, detections = coco_pair(4)
    url, job = _run(client, data={"kind": "detection"},
                    files={"predictions": ("dt.json", json.dumps(detections)),
                           "truth": ("gt.json", json.dumps(truth))})  # fmt: skip
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    report = _report(client, url)
    assert report["kind"] == "detection" and 0 < report["coco"]["mAP"] < 1
    assert [c["name"] for c in report["per_class"]] == ["galaxy", "star", "cluster"]
    assert report["matching"]["tp"] > 0 and report["confusion"]["labels"][-1] == "background"
    image = client.get(f"{url}/results/confusion", follow_redirects=True)
    assert image.content.startswith(PNG)


def test_a_stored_parquet_table_is_read_by_the_worker(server: ServerThread, client: httpx.Client) -> None:
    predictions, truth = classification_rows(6)
    store = create_object_store(server.settings)
    store.put_bytes("inputs/test/predictions.parquet", parquet_bytes(predictions))
    url, job = _run(client, data={"kind": "classification", "predictions": "inputs/test/predictions.parquet",
                                  "truth": csv_text(truth)})  # fmt: skip
    assert job["phase"] == "COMPLETED", job["errorSummary"]
    inline, _ = _run(client, data={"kind": "classification", "predictions": csv_text(predictions),
                                   "truth": csv_text(truth)})  # fmt: skip
    assert _report(client, url) == _report(client, inline)


def test_sync_answers_with_the_results(client: httpx.Client) -> None:
    response = client.post("/api/evaluation/sync", data={"kind": "detection", "truth": json.dumps(COCO_TRUTH),
                                                         "predictions": json.dumps(COCO_PREDICTIONS)})  # fmt: skip
    assert response.status_code == 303 and response.headers["Location"].endswith("/results")
    results = client.get(response.headers["Location"], headers=JSON).json()
    assert sorted(r["id"] for r in results) == ["confusion", "pr_curve", "report"]


def _with(**changes: Any) -> dict[str, str]:
    params = {"kind": "classification", "predictions": CSV_PREDICTIONS, "truth": CSV_TRUTH}
    params.update(changes)
    return params


def _coco(**changes: Any) -> dict[str, str]:
    params = {"kind": "detection", "predictions": json.dumps(COCO_PREDICTIONS), "truth": json.dumps(COCO_TRUTH)}
    params.update({k: v if isinstance(v, str) else json.dumps(v) for k, v in changes.items()})
    return params


BAD_SUBMISSIONS = [
    (_with(kind="segmentation"), "kind", "invalid parameter 'kind': Input should be 'classification' or 'detection'"),
    ({"kind": "classification", "truth": CSV_TRUTH}, "predictions", "invalid parameter 'predictions': Field required"),
    (
        _with(truth="id,name\n1,cat\n"),
        "truth",
        "truth: the table lacks the column(s) 'label' (its header is 'id', 'name')",
    ),
    (_with(predictions="id,label\n"), "predictions", "predictions: the table has a header but no rows"),
    (_with(predictions="\n \n"), "predictions", "invalid parameter 'predictions': String should have at least 1"),
    (_with(truth="   ,  \n\n"), "truth", "truth: the table is empty"),
    (
        _with(truth="results/other-job/report.json"),
        "truth",
        "truth: 'results/other-job/report.json' is neither CSV/JSON text nor a stored input (a key under inputs/)",
    ),
    (
        _with(predictions="inputs/../results/x"),
        "predictions",
        "predictions: 'inputs/../results/x' is neither CSV/JSON text nor a stored input",
    ),
    (_with(iou_threshold="0"), "iou_threshold", "invalid parameter 'iou_threshold': Input should be greater than 0"),
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


@pytest.mark.parametrize(("params", "parameter", "message"), BAD_SUBMISSIONS)
def test_bad_input_is_refused_at_submission(
    client: httpx.Client, params: dict[str, str], parameter: str, message: str
) -> None:
    response = client.post("/api/evaluation/jobs", data=params, headers=JSON)
    assert response.status_code == 400, response.text
    body = response.json()
    assert body["parameter"] == parameter and body["message"].startswith(message), body


BAD_STORED = [
    (
        "classification",
        "inputs/bad/missing-label.parquet",
        parquet_bytes([{"id": "1", "name": "cat"}]),
        "predictions: the table lacks the column(s) label (it has id, name)",
    ),
    ("classification", "inputs/bad/absent.csv", b"", "predictions: there is no stored input 'inputs/bad/absent.csv'"),
    ("classification", "inputs/bad/binary.csv", b"\x00\xff\xfe garbage", "predictions: not a readable CSV"),
    ("detection", "inputs/bad/dt.json", b"[{", "predictions: not valid JSON"),
    ("detection", "inputs/bad/dt-structure.json", b'{"images": []}', "predictions: COCO detections are a JSON list"),
]


@pytest.mark.parametrize(("kind", "key", "data", "message"), BAD_STORED)
def test_a_bad_stored_input_ends_the_job_in_error(
    server: ServerThread, client: httpx.Client, kind: str, key: str, data: bytes, message: str
) -> None:
    if data:
        create_object_store(server.settings).put_bytes(key, data)
    truth = CSV_TRUTH if kind == "classification" else json.dumps(COCO_TRUTH)
    url, job = _run(client, data={"kind": kind, "predictions": key, "truth": truth})
    assert job["phase"] == "ERROR", job
    assert job["errorSummary"]["message"].startswith(message), job["errorSummary"]
    assert job["errorSummary"]["type"] == "fatal"
    error = client.get(f"{url}/error")
    assert error.status_code == 200 and message in error.text


def test_the_api_side_checks_import_nothing_heavy() -> None:
    """The declaration and its submission checks run in the API process: no numpy, pyarrow or pycocotools."""
    code = (
        "import sys, json\n"
        "from workers.services.evaluation.params import EvaluationParams\n"
        f"EvaluationParams(kind='detection', truth={json.dumps(COCO_TRUTH)!r}, "
        f"predictions={json.dumps(COCO_PREDICTIONS)!r})\n"
        f"EvaluationParams(kind='classification', truth={CSV_TRUTH!r}, predictions={CSV_PREDICTIONS!r})\n"
        "print(sorted(m for m in ('numpy', 'pyarrow', 'pycocotools', 'scipy', 'matplotlib') if m in sys.modules))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]"
