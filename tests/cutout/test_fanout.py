"""Fan-out of large cutout jobs: ``split`` into children, ``run`` each, ``merge`` into the parent.

End to end on the small demo maps: the children are really run (with the fake
job context of ``conftest.py``), their results go into an in-memory object store,
and ``merge`` reads them through a fake :class:`MergeContext` over that store.
"""

from __future__ import annotations

import csv
import io
import json
import tarfile
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from spt_api.config import Settings
from spt_api.services import ChildOutcome
from spt_api.uws.errors import UsageError
from spt_api.uws.models import JobResult
from tests.cutout.conftest import FakeContext
from workers.services.cutout.params import SERVICE, CutoutParams, split
from workers.services.cutout.run import run

Ctx = Callable[..., Any]
MANIFESTS = {"manifest", "manifest-json"}


@dataclass
class FakeMergeContext(FakeContext):
    """A fake MergeContext: the children's results are objects of an in-memory store (key -> bytes)."""

    store: dict[str, bytes] = field(default_factory=dict)
    job_id: str = "parent-job"
    settings: Any = None
    adopted: dict[str, JobResult] = field(default_factory=dict)
    fetched: list[str] = field(default_factory=list)

    def add_result(
        self, name: str, data: bytes | Path, mime_type: str | None = None, *, result_id: str | None = None
    ) -> str:
        assert (result_id or name) not in self.adopted, f"result id {result_id or name!r} added twice"
        return super().add_result(name, data, mime_type, result_id=result_id)

    def read_result(self, result: JobResult) -> bytes:
        return self.store[result.key]

    def fetch_result(self, result: JobResult, destination: Path) -> None:
        self.fetched.append(result.key)
        destination.write_bytes(self.store[result.key])

    def adopt_result(self, result: JobResult) -> str:
        assert result.key in self.store
        assert result.result_id not in self.results and result.result_id not in self.adopted
        self.adopted[result.result_id] = result
        return result.result_id


def settings(chunk: int) -> Settings:
    return Settings(fan_out_chunk=chunk)


def table(sources: list[dict[str, Any]], *extra: str) -> str:
    lines = [f"{s['name']},{s['ra']},{s['dec']}" for s in sources]
    return "name,ra,dec\n" + "\n".join([*lines, *extra]) + "\n"


def run_children(
    parent: CutoutParams, chunk: int, maps_dir: Path, make_ctx: Ctx
) -> tuple[list[ChildOutcome], dict[str, bytes]]:
    """Split ``parent`` and run every child as a worker would (params through JSON); store their results."""
    store: dict[str, bytes] = {}
    children: list[ChildOutcome] = []
    for index, child_params in enumerate(split(parent, settings(chunk))):
        job_id = f"child{index}"
        message = json.loads(json.dumps(child_params.to_message()))
        params = CutoutParams.model_validate(message)
        ctx = make_ctx(job_id=job_id)
        try:
            run(params, ctx, maps_dir=maps_dir)
        except UsageError as exc:
            children.append(ChildOutcome(job_id, params, "ERROR", (), exc.message))
            continue
        results = []
        for rid, result in ctx.results.items():
            key = f"jobs/{job_id}/{rid}"
            store[key] = result.path.read_bytes()
            results.append(JobResult(rid, key, result.mime_type, len(store[key])))
        children.append(ChildOutcome(job_id, params, "COMPLETED", tuple(results)))
    return children, store


def read_member(archive: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = archive.extractfile(member)
    assert handle is not None
    return handle.read()


def rows_of(data: bytes) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(data.decode())))


@pytest.fixture
def merge_ctx(tmp_path: Path) -> Callable[..., FakeMergeContext]:
    def make(store: dict[str, bytes], **kwargs: Any) -> FakeMergeContext:
        workdir = tmp_path / "parent"
        workdir.mkdir(exist_ok=True)
        return FakeMergeContext(workdir=workdir, store=store, **kwargs)

    return make


# --- split -------------------------------------------------------------------------


def test_service_declares_split_and_merge() -> None:
    assert SERVICE.load_split() is split
    merge = SERVICE.load_merge()
    assert merge is not None and merge.__module__ == "workers.services.cutout.merge"


def test_split_small_job_is_unchanged(sources: list[dict[str, Any]]) -> None:
    parent = CutoutParams.from_uws([("positions", table(sources[:7])), ("bundle", "zip")])
    assert split(parent, settings(7)) == [parent]
    assert split(parent, settings(7))[0] is parent
    assert split(parent, Settings())[0] is parent  # default: 500 positions per child
    assert split(parent, None)[0] is parent


def test_split_large_job(sources: list[dict[str, Any]]) -> None:
    rows = table(sources[:5], "dup,0,-59.75", "dup,0,-44.75")
    parent = CutoutParams.from_uws(
        [("positions", rows), ("POS", "CIRCLE 75 -30 0.05"), ("band", "150"), ("format", "both"), ("bundle", "zip")]
    )
    children = split(parent, settings(3))
    assert [len(c.positions()) for c in children] == [3, 3, 2]
    assert all(c.bundle == "none" and c.band == [150] and c.format == "both" for c in children)
    names = [t.name for c in children for t in c.positions()]
    assert len(names) == len(set(names)) == 8 and "dup-2" in names
    assert [(t.name, t.pos) for c in children for t in c.positions()] == [(t.name, t.pos) for t in parent.positions()]
    # Each child survives the JSON task message and rebuilds the same targets.
    for child in children:
        assert CutoutParams.model_validate(json.loads(json.dumps(child.to_message()))).positions() == child.positions()
    assert parent.bundle == "zip"  # the parent keeps its own options


# --- merge -------------------------------------------------------------------------


def single_job(parent: CutoutParams, maps_dir: Path, make_ctx: Ctx) -> Any:
    ctx = make_ctx(job_id="parent-job")
    run(parent, ctx, maps_dir=maps_dir)
    return ctx


def test_merge_without_bundle(
    maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, merge_ctx: Callable[..., FakeMergeContext]
) -> None:
    from workers.services.cutout.merge import merge

    parent = CutoutParams.from_uws([("positions", table(sources[:8], "far,180,20")), ("band", "150")])
    children, store = run_children(parent, 3, maps_dir, make_ctx)
    assert [c.phase for c in children] == ["COMPLETED"] * 3
    ctx = merge_ctx(store)
    merge(parent, list(reversed(children)), ctx)  # children may end in any order

    child_files = {r.result_id for c in children for r in c.results if r.result_id not in MANIFESTS}
    assert set(ctx.adopted) == child_files and len(child_files) == 8
    assert set(ctx.results) == MANIFESTS
    assert ctx.fetched == []  # adopted, not copied
    rows = rows_of(ctx.results["manifest"].path.read_bytes())
    assert [r["name"] for r in rows] == [t.name for t in parent.positions()]  # every position once, in order
    assert {r["file"] for r in rows if r["file"]} == child_files
    # The same manifest as the job run in one piece.
    whole = single_job(parent, maps_dir, make_ctx)
    assert ctx.results["manifest"].path.read_bytes() == whole.results["manifest"].path.read_bytes()
    document = json.loads(ctx.results["manifest-json"].path.read_text())
    assert document["job_id"] == "parent-job" and document["parameters"]["bundle"] == "none"
    assert document["summary"] == json.loads(whole.results["manifest-json"].path.read_text())["summary"]
    assert [p["positions"] for p in document["parts"]] == [3, 3, 3]
    assert ctx.results["manifest-json"].mime_type == "application/json"
    assert ctx.progress_calls[-1][:2] == (8, 8)


@pytest.mark.parametrize("kind", ["zip", "tar.gz"])
def test_merge_into_one_bundle(
    maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, merge_ctx: Callable[..., FakeMergeContext], kind: str
) -> None:
    from workers.services.cutout.merge import merge

    parent = CutoutParams.from_uws(
        [("positions", table(sources[:7])), ("band", "150"), ("format", "both"), ("bundle", kind)]
    )
    children, store = run_children(parent, 2, maps_dir, make_ctx)
    assert len(children) == 4
    assert all(not any(r.result_id == "bundle" for r in c.results) for c in children)  # children never bundle
    ctx = merge_ctx(store)
    merge(parent, children, ctx)

    assert set(ctx.results) == {"bundle", *MANIFESTS} and ctx.adopted == {}
    bundle = ctx.results["bundle"]
    assert bundle.name == f"cutouts.{kind}"
    assert bundle.mime_type == ("application/zip" if kind == "zip" else "application/gzip")
    if kind == "zip":
        with zipfile.ZipFile(bundle.path) as archive:
            members = {name: archive.read(name) for name in archive.namelist()}
    else:
        with tarfile.open(bundle.path, "r:gz") as archive:
            members = {m.name: read_member(archive, m) for m in archive.getmembers()}
    child_files = {r.result_id: store[r.key] for c in children for r in c.results if r.result_id not in MANIFESTS}
    assert len(child_files) == 7 * 2
    assert members == {
        **{f"cutouts/{name}": data for name, data in child_files.items()},
        "cutouts/manifest.csv": ctx.results["manifest"].path.read_bytes(),
        "cutouts/manifest.json": ctx.results["manifest-json"].path.read_bytes(),
    }
    # Same members and manifest rows as the job in one piece.
    whole = single_job(parent, maps_dir, make_ctx)
    assert rows_of(members["cutouts/manifest.csv"]) == rows_of(whole.results["manifest"].path.read_bytes())
    assert ctx.progress_calls[0] == (0, 14, "0 of 14 files bundled")
    assert ctx.progress_calls[-1] == (14, 14, "14 of 14 files bundled")
    assert not (ctx.workdir / "part-file").exists()


def test_merge_with_failed_children(
    maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, merge_ctx: Callable[..., FakeMergeContext]
) -> None:
    from workers.services.cutout.merge import merge

    # The second child's positions are all off the maps: it ends in ERROR (a real run);
    # the third is lost (its worker died, say).
    rows = table(
        sources[:2],
        "far1,180,20",
        "far2,181,20",
        "far3,182,20",
        *[f"{s['name']},{s['ra']},{s['dec']}" for s in sources[2:4]],
    )
    parent = CutoutParams.from_uws([("positions", rows), ("band", "150"), ("bundle", "zip")])
    children, store = run_children(parent, 2, maps_dir, make_ctx)
    assert [c.phase for c in children] == ["COMPLETED", "ERROR", "COMPLETED", "COMPLETED"]
    children[2] = ChildOutcome(children[2].job_id, children[2].params, "ABORTED", (), "worker lost")
    ctx = merge_ctx(store)
    merge(parent, children, ctx)

    result = {r["name"]: r for r in rows_of(ctx.results["manifest"].path.read_bytes())}
    assert list(result) == [t.name for t in parent.positions()]
    assert result["far1"]["status"] == result["far2"]["status"] == "error"
    assert result["far1"]["message"].startswith("no cutout could be made: positions 2 outside")
    assert result["far3"] == {**result["far3"], "status": "error", "message": "worker lost", "file": ""}
    lost = children[2].params.positions()[1].name  # the lost child's second position
    assert result[lost]["status"] == "error" and result[lost]["message"] == "worker lost"
    ok = [n for n, r in result.items() if r["status"] == "ok"]
    assert len(ok) == 3 and all(result[n]["file"].startswith("cutouts/") for n in ok)
    with zipfile.ZipFile(ctx.results["bundle"].path) as archive:
        assert sorted(archive.namelist()) == sorted(
            [*(result[n]["file"] for n in ok), "cutouts/manifest.csv", "cutouts/manifest.json"]
        )
    summary = json.loads(ctx.results["manifest-json"].path.read_text())["summary"]
    assert summary["positions_by_status"] == {"ok": 3, "error": 4}


def test_merge_when_every_child_failed(
    maps_dir: Path, make_ctx: Ctx, merge_ctx: Callable[..., FakeMergeContext]
) -> None:
    from workers.services.cutout.merge import merge

    parent = CutoutParams.from_uws([("positions", "name,ra,dec\na,180,20\nb,181,20\nc,182,20\n"), ("bundle", "tar.gz")])
    children, store = run_children(parent, 2, maps_dir, make_ctx)
    assert [c.phase for c in children] == ["ERROR", "ERROR"]
    ctx = merge_ctx(store)
    with pytest.raises(UsageError) as info:
        merge(parent, children, ctx)
    message = info.value.message
    assert message.startswith("no cutout could be made: all 2 parts of the job (3 positions) failed: 'a'..'b': ")
    assert "positions 2 outside (first: 'a' at ra=180, dec=20: outside every map)" in message
    assert "'c'..'c': positions 1 outside" in message and "Maps cover" in message
    assert info.value.parameter == "POS"
    assert ctx.results == {} and ctx.adopted == {}
    assert not (ctx.workdir / "cutouts.tar.gz").exists()


@pytest.mark.parametrize("kind", ["none", "zip"])
def test_abort_between_files(
    maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, merge_ctx: Callable[..., FakeMergeContext], kind: str
) -> None:
    from workers.services.cutout.merge import merge

    parent = CutoutParams.from_uws([("positions", table(sources[:6])), ("band", "150"), ("bundle", kind)])
    children, store = run_children(parent, 2, maps_dir, make_ctx)
    ctx = merge_ctx(store, abort_after=2)
    merge(parent, children, ctx)
    assert ctx.abort_checks == 3  # two files handled, the third check saw the abort
    # No manifest, no bundle: the job machinery records the parent as ABORTED.
    assert ctx.results == {}
    assert not (ctx.workdir / "cutouts.zip").exists()
    if kind == "none":
        assert len(ctx.adopted) == 2
    else:
        assert len(ctx.fetched) == 2 and ctx.adopted == {}


def test_same_file_name_in_two_children(
    maps_dir: Path, sources: list[dict[str, Any]], make_ctx: Ctx, merge_ctx: Callable[..., FakeMergeContext]
) -> None:
    from workers.services.cutout.merge import merge

    # "a b" and "a_b" are distinct positions whose file names are the same: a single
    # job numbers the second file; split across children, merge must do the same.
    source = sources[0]
    rows = f"name,ra,dec\na b,{source['ra']},{source['dec']}\na_b,{source['ra']},{source['dec']}\n"
    parent = CutoutParams.from_uws([("positions", rows), ("band", "150"), ("bundle", "zip")])
    children, store = run_children(parent, 1, maps_dir, make_ctx)
    assert {r.result_id for r in children[0].results} == {r.result_id for r in children[1].results}
    ctx = merge_ctx(store)
    merge(parent, children, ctx)
    whole = single_job(parent, maps_dir, make_ctx)
    merged = ctx.results["manifest"].path.read_bytes()
    assert merged == whole.results["manifest"].path.read_bytes()
    files = [r["file"] for r in rows_of(merged)]
    assert len(set(files)) == 2
    with zipfile.ZipFile(ctx.results["bundle"].path) as archive:
        assert set(files) <= set(archive.namelist())
