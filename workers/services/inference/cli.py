"""``spt-api models add|list``: the inference service's commands (``ServiceSpec.cli``)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from spt_api.config import Settings

__all__ = ["add_model", "register_cli"]


def add_model(settings: Any, name: str, model: Path, version: int | None = None, config: Path | None = None) -> int:
    """Check that ``model`` loads (onnxruntime, CPU) and ``config`` parses, then copy them in; the version."""
    import onnxruntime

    from workers.services.inference.model_config import parse_config
    from workers.services.inference.repository import ModelRepository
    from workers.services.inference.settings import models_url

    if not name or "/" in name or name.startswith("."):
        raise ValueError(f"invalid model name {name!r}")
    onnxruntime.InferenceSession(str(model), providers=["CPUExecutionProvider"])  # raises if it does not load
    config_text = config.read_text() if config is not None else None
    if config_text is not None:
        parse_config(config_text, name)
    repository = ModelRepository(models_url(settings), settings)
    if version is None:
        version = max(repository.versions(name), default=0) + 1
    repository.store.put_file(f"{name}/{version}/model.onnx", model)
    if config_text is not None:
        repository.store.put_bytes(f"{name}/config.pbtxt", config_text.encode(), "text/plain")
    return version


def _add(args: argparse.Namespace) -> int:
    try:
        config = Path(args.config) if args.config else None
        version = add_model(Settings(), args.name, Path(args.file), args.version, config)
    except Exception as exc:
        print(f"model not added: {exc}", file=sys.stderr)
        return 1
    print(f"added model {args.name} version {version}")
    return 0


def _demo(args: argparse.Namespace) -> int:
    from workers.services.inference.demo import DEMO_MODEL, write_demo
    from workers.services.inference.repository import ModelRepository
    from workers.services.inference.settings import models_url

    settings = Settings()
    model, rows = write_demo(Path(args.folder))
    if args.if_missing and ModelRepository(models_url(settings), settings).versions(DEMO_MODEL):
        print(f"model {DEMO_MODEL} is already in the repository; rows to try it with: {rows}")
    else:
        version = add_model(settings, DEMO_MODEL, model)
        print(f"added model {DEMO_MODEL} version {version}; rows to try it with: {rows}")
    print(f"  curl -o out.npz -F model={DEMO_MODEL} -F input=@{rows} http://127.0.0.1:8080/api/inference/sync")
    return 0


def _list(args: argparse.Namespace) -> int:
    from workers.services.inference.repository import ModelRepository
    from workers.services.inference.settings import models_url

    settings = Settings()
    models = ModelRepository(models_url(settings), settings).models()
    if args.json:
        print(json.dumps([m.to_json() for m in models], indent=2))
        return 0
    for m in models:
        signature = ", ".join(f"{t.name}:{t.dtype}{list(t.shape)}" for t in m.inputs)
        state = "" if m.problem is None else f"  UNSUPPORTED: {m.problem}"
        print(f"{m.name}  versions {','.join(map(str, m.versions))}  inputs {signature}  "
              f"requires {','.join(sorted(m.requirements))}{state}")
    return 0


def register_cli(sub: Any) -> None:
    models = sub.add_parser("models", help="the inference model repository (Triton layout)")
    commands = models.add_subparsers(dest="models_command", required=True)
    add = commands.add_parser("add", help="check that an ONNX model loads and copy it into the repository")
    add.add_argument("name")
    add.add_argument("file", help="the model.onnx")
    add.add_argument("--version", type=int, help="default: one above the highest")
    add.add_argument("--config", help="a config.pbtxt (Triton's text format)")
    add.set_defaults(func=_add)
    demo = commands.add_parser("demo", help="add a small demo model, and write rows to try it with")
    demo.add_argument("--folder", default=".", help="where demo.onnx and demo_rows.npy are written")
    demo.add_argument("--if-missing", action="store_true", help="do nothing when the repository has it")
    demo.set_defaults(func=_demo)
    listing = commands.add_parser("list", help="the models, their versions, signatures and requirements")
    listing.add_argument("--json", action="store_true")
    listing.set_defaults(func=_list)
