"""The ``spt-api deploy`` subcommand: ``render ENV`` and ``diff ENV_A ENV_B``."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from spt_api.deploy.render import ENVIRONMENTS

__all__ = ["register_cli"]


def _render(args: argparse.Namespace) -> int:
    from spt_api.deploy.render import render_text

    sys.stdout.write(render_text(args.env, args.chart))
    return 0


def _diff(args: argparse.Namespace) -> int:
    from spt_api.deploy.diff import diff_environments

    text = diff_environments(args.env_a, args.env_b, args.chart)
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    # Like diff(1): 1 when there are differences, unless --exit-zero.
    return 0 if args.exit_zero or not text else 1


def register_cli(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``deploy`` subcommand to an argparse ``subparsers`` object.

    Each leaf parser sets ``func``, a callable taking the parsed arguments and returning
    the exit code.
    """
    deploy: argparse.ArgumentParser = subparsers.add_parser(
        "deploy", help="render or diff the Kubernetes environments offline (Helm chart, no cluster)"
    )
    actions = deploy.add_subparsers(dest="deploy_command", required=True)
    chart_help = "chart directory (default: charts/spt-api-server of this checkout)"

    render = actions.add_parser("render", help="print the manifests of an environment")
    render.add_argument("env", choices=list(ENVIRONMENTS))
    render.add_argument("--chart", type=Path, default=None, help=chart_help)
    render.set_defaults(func=_render)

    diff = actions.add_parser("diff", help="diff two environments object by object")
    diff.add_argument("env_a", choices=list(ENVIRONMENTS))
    diff.add_argument("env_b", choices=list(ENVIRONMENTS))
    diff.add_argument("--chart", type=Path, default=None, help=chart_help)
    diff.add_argument("--exit-zero", action="store_true", help="exit 0 even when they differ")
    diff.set_defaults(func=_diff)
    return deploy
