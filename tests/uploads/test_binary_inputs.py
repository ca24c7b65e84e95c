"""Binary inputs end to end: a multipart file part of an ``InputFile`` parameter is stored byte for byte,
checked at submission (400 naming the parameter), read by the worker, and removed with the job.

Runs the ``filecopy`` test service on an embedded server with local storage, and with S3 storage
(SeaweedFS), where an ``s3://bucket/key`` reference under an allowed URL prefix is read too. Who may
name which input is tested with real users in ``tests/auth/test_input_access.py``.
"""

from __future__ import annotations

import hashlib
import io
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import httpx
import numpy as np
import pytest

from spt_api.testing import ServerThread, start_server_thread
from tests.api.uws_helpers import JSON, wait_until_final
from tests.conftest import embedded_settings
from tests.support.arrays import npy_bytes
from tests.support.s3server import SeaweedS3

BUCKET = "spt-inputs"


#: An array whose data bytes are not UTF-8 (0xff 0xfe ...): a text decode would refuse or mangle them.
ARRAY = np.frombuffer(bytes(range(256)) * 4, dtype=np.uint8).reshape(32, 32)
NPY = npy_bytes(ARRAY)


@pytest.fixture(scope="module")
def local_server(filecopy_installed: None, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerThread]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("uploads"), services="filecopy,echo", input_shared_prefixes="datasets/"
    )
    server = start_server_thread(settings)
    yield server
    server.stop()


@pytest.fixture(scope="module")
def s3() -> Iterator[SeaweedS3]:
    with SeaweedS3(bucket=BUCKET) as server:
        yield server


@pytest.fixture(scope="module")
def s3_server(
    filecopy_installed: None, s3: SeaweedS3, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ServerThread]:
    settings = embedded_settings(
        tmp_path_factory.mktemp("uploads-s3"),
        services="filecopy",
        storage_url=f"s3://{BUCKET}/results",
        s3_endpoint_url=s3.endpoint_url,
        s3_access_key_id=s3.access_key,
        s3_secret_access_key=s3.secret_key,
        input_url_prefixes=f"s3://{BUCKET}/datasets",
    )
    server = start_server_thread(settings)
    yield server
    server.stop()


def submit(client: httpx.Client, files: dict[str, Any] | None = None, **data: str) -> httpx.Response:
    return client.post("/api/filecopy/jobs", data={**data, "PHASE": "RUN"}, files=files, headers=JSON)


def run_to_completion(client: httpx.Client, response: httpx.Response) -> tuple[dict[str, Any], bytes]:
    assert response.status_code == 303, response.text
    url = response.headers["Location"]
    job = wait_until_final(client, url, 60)
    assert job["phase"] == "COMPLETED", job
    copy = client.get(f"{url}/results/copy", follow_redirects=True)
    digest = client.get(f"{url}/results/digest", follow_redirects=True).json()["sha256"]
    assert digest == hashlib.sha256(copy.content).hexdigest()
    return job, copy.content


def stored_inputs(server: ServerThread) -> list[Path]:
    root = Path(server.settings.data_dir) / "results" / "inputs"
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def parameter(job: dict[str, Any], name: str) -> str:
    params = job["parameters"]
    if isinstance(params, dict):
        value = params[name]
        return str(value[0] if isinstance(value, list) else value)
    return next(str(p["value"]) for p in params if p.get("id", p.get("name")) == name)


def test_an_uploaded_npy_passes_byte_for_byte(local_server: ServerThread) -> None:
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        response = submit(client, files={"blob": ("data.npy", NPY, "application/octet-stream")}, npy="true")
        job, copy = run_to_completion(client, response)
    assert copy == NPY
    assert np.array_equal(np.load(io.BytesIO(copy)), ARRAY)
    assert parameter(job, "blob") == f"inputs/{job['jobId']}/data.npy"


def test_a_non_file_parameter_still_takes_text_parts(local_server: ServerThread) -> None:
    """A file part of an ordinary parameter is decoded as text, as before (cutout's CSV positions)."""
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        response = client.post("/api/echo/jobs", files={"message": ("m.txt", "héllo".encode())}, headers=JSON)
        assert response.status_code == 303
        job = client.get(response.headers["Location"], headers=JSON).json()
        assert parameter(job, "message") == "héllo"
        bad = client.post("/api/echo/jobs", files={"message": ("m.bin", b"\xff\xfe")}, headers=JSON)
        assert bad.status_code == 400 and bad.json()["parameter"] == "message"


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (NPY[:200], "parameter 'blob': truncated .npy file"),
        (b"\xff\xfe\x00garbage that is no array", "parameter 'blob': not a .npy file"),
        (b"", "parameter 'blob': not a .npy file"),
    ],
    ids=["truncated", "garbage", "empty"],
)
def test_a_bad_npy_is_a_400_naming_the_parameter(local_server: ServerThread, body: bytes, message: str) -> None:
    before = stored_inputs(local_server)
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        response = submit(client, files={"blob": ("bad.npy", body)}, npy="true")
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == "blob"
    assert message in response.json()["message"]
    # Nothing of the refused upload is kept.
    assert stored_inputs(local_server) == before


@pytest.mark.parametrize(
    ("ref", "message"),
    [
        ("inputs/nosuchjob/data.npy", "no stored input 'inputs/nosuchjob/data.npy'"),
        ("../../etc/passwd", "is not a valid storage key"),
        ("/etc/passwd", "is not a valid storage key"),
        ("http://example.org/x.npy", "unsupported reference"),
        ("s3://", "is not of the form s3://bucket/key"),
    ],
)
def test_a_bad_reference_is_a_400_naming_the_parameter(local_server: ServerThread, ref: str, message: str) -> None:
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        response = submit(client, blob=ref)
    assert response.status_code == 400, response.text
    assert response.json()["parameter"] == "blob"
    assert message in response.json()["message"]


def test_another_jobs_upload_is_copied_so_deleting_that_job_breaks_nothing(local_server: ServerThread) -> None:
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        first, _ = run_to_completion(client, submit(client, files={"blob": ("a.npy", NPY)}))
        ref = parameter(first, "blob")
        # Created PENDING: it runs only after the job whose upload it named is gone.
        created = client.post("/api/filecopy/jobs", data={"blob": ref, "npy": "true"}, headers=JSON)
        assert created.status_code == 303, created.text
        second_url = created.headers["Location"]
        second = client.get(second_url, headers=JSON).json()
        own = parameter(second, "blob")
        assert own == f"inputs/{second['jobId']}/a.npy"  # its own copy, not the first job's upload
        upload = Path(local_server.settings.data_dir) / "results" / ref
        assert client.delete(f"/api/filecopy/jobs/{first['jobId']}").status_code == 303
        assert not upload.parent.exists()
        assert client.post(f"{second_url}/phase", data={"PHASE": "RUN"}).status_code == 303
        job = wait_until_final(client, second_url, 60)
        assert job["phase"] == "COMPLETED", job
        assert client.get(f"{second_url}/results/copy", follow_redirects=True).content == NPY
        # Each job's inputs go with it alone.
        assert client.delete(second_url).status_code == 303
        assert not (Path(local_server.settings.data_dir) / "results" / own).parent.exists()


def test_results_and_other_keys_read_as_missing_and_a_shared_prefix_is_read(local_server: ServerThread) -> None:
    store = Path(local_server.settings.data_dir) / "results"
    (store / "datasets").mkdir(parents=True, exist_ok=True)
    (store / "datasets" / "shared.npy").write_bytes(NPY)
    (store / "private").mkdir(exist_ok=True)
    (store / "private" / "secret.npy").write_bytes(NPY)
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        done, _ = run_to_completion(client, submit(client, files={"blob": ("r.npy", NPY)}))
        result = f"filecopy/{done['jobId']}/copy.bin"
        assert (store / result).is_file()  # there, and refused all the same: results are not inputs
        missing = submit(client, blob="datasets/none.npy").json()["message"]
        for ref in (result, "private/secret.npy"):
            response = submit(client, blob=ref)
            assert response.status_code == 400 and response.json()["parameter"] == "blob", response.text
            assert response.json()["message"] == missing.replace("datasets/none.npy", ref)
        assert "that you may read" in missing and "or name an object under datasets/" in missing
        _, copy = run_to_completion(client, submit(client, blob="datasets/shared.npy", npy="true"))
        assert copy == NPY


def test_a_sync_request_takes_an_upload(local_server: ServerThread) -> None:
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        response = client.post("/api/filecopy/sync", files={"blob": ("s.npy", NPY)}, headers=JSON)
        assert response.status_code == 303, response.text  # two results: the results list
        results = client.get(response.headers["Location"], headers=JSON).json()
        assert "copy" in json.dumps(results)


def test_uploads_and_references_on_s3(s3_server: ServerThread, s3: SeaweedS3) -> None:
    client_s3 = boto3.client(
        "s3", endpoint_url=s3.endpoint_url, aws_access_key_id=s3.access_key,
        aws_secret_access_key=s3.secret_key, region_name=s3.region,
    )
    big = npy_bytes(np.random.default_rng(1).random((3000, 100)).astype(np.float32))  # 1.2 MB: ranged reads
    client_s3.put_object(Bucket=BUCKET, Key="datasets/big.npy", Body=big)
    with httpx.Client(base_url=s3_server.base_url, timeout=60) as client:
        job, copy = run_to_completion(client, submit(client, files={"blob": ("data.npy", NPY)}, npy="true"))
        assert copy == NPY
        key = f"results/{parameter(job, 'blob')}"
        assert client_s3.head_object(Bucket=BUCKET, Key=key)["ContentLength"] == len(NPY)
        _, copy = run_to_completion(client, submit(client, blob=f"s3://{BUCKET}/datasets/big.npy", npy="true"))
        assert copy == big
        truncated = submit(client, files={"blob": ("t.npy", big[:5000])}, npy="true")
        assert truncated.status_code == 400 and truncated.json()["parameter"] == "blob"
        missing = submit(client, blob=f"s3://{BUCKET}/datasets/missing.npy")
        assert missing.status_code == 400 and "no stored input" in missing.json()["message"]
        # Outside the allowed URL prefixes: refused, though the workers' credentials could read it.
        client_s3.put_object(Bucket=BUCKET, Key="private/secret.npy", Body=NPY)
        for ref, message in [
            (f"s3://{BUCKET}/private/secret.npy", "is not an allowed input URL (under s3://spt-inputs/datasets/)"),
            (f"s3://{BUCKET}/datasetsX/secret.npy", "is not an allowed input URL"),
            (f"s3://{BUCKET}/{key}", "is in the API's own store"),
            (f"s3://{BUCKET}/datasets/../private/secret.npy", "is not of the form s3://bucket/key"),
        ]:
            refused = submit(client, blob=ref)
            assert refused.status_code == 400 and refused.json()["parameter"] == "blob", refused.text
            assert message in refused.json()["message"], (ref, refused.json())
        # Another job's upload named by key: a server-side copy, so the first job's deletion breaks nothing.
        created = client.post("/api/filecopy/jobs", data={"blob": parameter(job, "blob")}, headers=JSON)
        assert created.status_code == 303, created.text
        second_url = created.headers["Location"]
        assert client.delete(f"/api/filecopy/jobs/{job['jobId']}").status_code == 303
        assert client.post(f"{second_url}/phase", data={"PHASE": "RUN"}).status_code == 303
        second = wait_until_final(client, second_url, 60)
        assert second["phase"] == "COMPLETED", second
        assert client.get(f"{second_url}/results/copy", follow_redirects=True).content == NPY
    listed = client_s3.list_objects_v2(Bucket=BUCKET, Prefix=f"results/inputs/{job['jobId']}/")
    assert listed.get("KeyCount", 0) == 0


def test_a_parameter_update_takes_an_upload(local_server: ServerThread) -> None:
    other = npy_bytes(np.arange(300, dtype=np.int16))
    with httpx.Client(base_url=local_server.base_url, timeout=60) as client:
        created = client.post("/api/filecopy/jobs", files={"blob": ("first.npy", NPY)}, data={"npy": "true"})
        assert created.status_code == 303
        url = created.headers["Location"]
        before = stored_inputs(local_server)
        bad = client.post(f"{url}/parameters", files={"blob": ("bad.npy", b"\xff" * 10)}, headers=JSON)
        assert bad.status_code == 400 and bad.json()["parameter"] == "blob"
        assert stored_inputs(local_server) == before  # the refused upload is not kept
        updated = client.post(f"{url}/parameters", files={"blob": ("second.npy", other)})
        assert updated.status_code == 303, updated.text
        assert client.post(f"{url}/phase", data={"PHASE": "RUN"}).status_code == 303
        job = wait_until_final(client, url, 60)
        assert job["phase"] == "COMPLETED", job
        assert parameter(job, "blob").endswith("-second.npy")
        assert client.get(f"{url}/results/copy", follow_redirects=True).content == other
        assert client.delete(url).status_code == 303
    assert not (Path(local_server.settings.data_dir) / "results" / "inputs" / job["jobId"]).exists()
