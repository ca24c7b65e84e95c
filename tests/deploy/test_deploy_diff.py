"""spt_api.deploy: render_text, diff_environments and the `deploy` CLI subcommand."""

from __future__ import annotations

import argparse

import pytest
import yaml

from spt_api.deploy import deep_merge, diff_environments, diff_objects, register_cli, render_text


def test_deep_merge_keeps_siblings_replaces_lists_keeps_nulls() -> None:
    base = {"api": {"replicas": 2, "port": 8080}, "paths": ["/a", "/b"], "env": {"X": "1", "Y": "2"}}
    over = {"api": {"replicas": 1}, "paths": ["/c"], "env": {"Y": None}}
    assert deep_merge(base, over) == {
        "api": {"replicas": 1, "port": 8080},
        "paths": ["/c"],
        "env": {"X": "1", "Y": None},
    }
    assert base["api"] == {"replicas": 2, "port": 8080}  # not modified


def test_render_text_is_multi_document_yaml() -> None:
    docs = [d for d in yaml.safe_load_all(render_text("dev2")) if d]
    assert {"Deployment", "StatefulSet", "Ingress", "CronJob"} <= {d["kind"] for d in docs}
    assert all(d["metadata"]["namespace"] == "spt-dev2" for d in docs)


def test_diff_prod_dev1_shows_known_differences() -> None:
    text = diff_environments("prod", "dev1")
    # Ingress host, keyed on the release-independent name.
    assert "===== Ingress/RELEASE\n" in text
    assert "-  - host: spt.example.org" in text and "+  - host: dev1.spt.example.org" in text
    # Objects only on one side.
    assert "===== HorizontalPodAutoscaler/RELEASE-api (removed in dev1, only in prod)" in text
    assert "===== Deployment/RELEASE-webapp (added in dev1)" in text
    assert "+  replicas: 1" in text
    # No release-name or namespace noise.
    assert "spt-api-server-dev1" not in text and "namespace: spt-" not in text


def test_diff_dev1_dev2_is_only_the_host() -> None:
    text = diff_environments("dev1", "dev2")
    changed = [
        line for line in text.splitlines() if line.startswith(("-", "+")) and not line.startswith(("---", "+++"))
    ]
    assert changed and all("dev1.spt.example.org" in c or "dev2.spt.example.org" in c for c in changed), changed


def test_diff_of_an_environment_with_itself_is_empty() -> None:
    assert diff_environments("dev2", "dev2") == ""


def test_diff_objects_unchanged_objects_are_left_out() -> None:
    a = {"ConfigMap/x": {"data": {"k": "1"}}, "Service/y": {"spec": 1}}
    b = {"ConfigMap/x": {"data": {"k": "2"}}, "Service/y": {"spec": 1}}
    text = diff_objects(a, b)
    assert text.startswith("===== ConfigMap/x\n") and "Service/y" not in text
    assert "-  k: '1'" in text and "+  k: '2'" in text


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="spt-api")
    register_cli(p.add_subparsers(dest="command"))
    return p


def test_cli_render(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["deploy", "render", "dev1"])
    assert args.func(args) == 0
    docs = [d for d in yaml.safe_load_all(capsys.readouterr().out) if d]
    assert any(d["kind"] == "Ingress" and d["spec"]["rules"][0]["host"] == "dev1.spt.example.org" for d in docs)


def test_cli_diff(capsys: pytest.CaptureFixture[str]) -> None:
    args = parser().parse_args(["deploy", "diff", "prod", "dev1"])
    assert args.func(args) == 1  # like diff(1): differences found
    out = capsys.readouterr().out
    assert "+  - host: dev1.spt.example.org" in out
    args = parser().parse_args(["deploy", "diff", "prod", "dev1", "--exit-zero"])
    assert args.func(args) == 0
    args = parser().parse_args(["deploy", "diff", "dev1", "dev1"])
    assert args.func(args) == 0


def test_cli_rejects_unknown_environment(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        parser().parse_args(["deploy", "render", "staging"])
    assert exc.value.code == 2
    assert "invalid choice" in capsys.readouterr().err
