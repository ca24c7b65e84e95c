"""The cutout service's ``spt-api maps`` commands: demo maps and the map catalogue (``ServiceSpec.cli``)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from spt_api.config import Settings

__all__ = ["register_cli"]


def _maps_demo(args: argparse.Namespace) -> int:
    from workers.services.cutout.demo import make_demo_maps
    from workers.services.cutout.maps import build_catalogue, is_s3
    from workers.services.cutout.settings import maps_url

    settings = Settings()
    target = args.directory or maps_url(settings)
    if is_s3(target):
        import tempfile

        from workers.services.cutout.s3_catalogue import catalogue_exists
        from workers.services.cutout.s3_location import S3Location
        from workers.services.cutout.upload import upload_maps

        location = S3Location.from_url(target, settings)
        if args.if_missing and catalogue_exists(location):
            print(f"maps already in {location}")
            return 0
        with tempfile.TemporaryDirectory(prefix="spt-demo-maps-") as tmp:
            paths = make_demo_maps(Path(tmp), small=args.small)
            upload_maps(location, Path(tmp))
        print(f"uploaded {len(paths)} demo maps to {location}; catalogue {build_catalogue(location)}")
        return 0
    directory = Path(target)
    if args.if_missing and (directory / "catalogue.json").exists():
        print(f"maps already in {directory}")
        return 0
    paths = make_demo_maps(directory, small=args.small)
    build_catalogue(directory)
    print(f"wrote {len(paths)} demo maps and their catalogue to {directory}")
    return 0


def _maps_index(args: argparse.Namespace) -> int:
    from workers.services.cutout.maps import build_catalogue, is_s3, load_catalogue
    from workers.services.cutout.settings import maps_url

    settings = Settings()
    target = args.directory or maps_url(settings)
    if is_s3(target):
        from workers.services.cutout.s3_location import S3Location

        location: Any = S3Location.from_url(target, settings)
    else:
        location = Path(target)
    written = build_catalogue(location)
    catalogue = load_catalogue(location, build_if_missing=False)
    print(written)
    print(f"{len(catalogue.entries)} map HDUs indexed")
    for skipped in catalogue.skipped:
        print(f"skipped {skipped.get('file')}: {skipped.get('reason')}")
    return 0


def register_cli(sub: Any) -> None:
    maps = sub.add_parser("maps", help="sky maps for the cutout service")
    maps_sub = maps.add_subparsers(dest="maps_command", required=True)
    demo = maps_sub.add_parser("demo", help="generate synthetic SPT-3G-like maps")
    demo.add_argument("directory", nargs="?", help="default: SPT_API_CUTOUT_MAPS_URL (or SPT_API_MAPS_URL)")
    demo.add_argument("--small", action="store_true", help="small maps (tests)")
    demo.add_argument("--if-missing", action="store_true", help="do nothing when a catalogue exists")
    demo.set_defaults(func=_maps_demo)
    index = maps_sub.add_parser("index", help="build the map catalogue")
    index.add_argument("directory", nargs="?", help="default: SPT_API_CUTOUT_MAPS_URL (or SPT_API_MAPS_URL)")
    index.set_defaults(func=_maps_index)
