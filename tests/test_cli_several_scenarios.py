"""`smtp-probe run SCENARIO... TARGET...`: bundled names, files and folders before the targets;
the first word that is none of them starts the targets."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _scenarios(run) -> list[str]:
    return [r["scenario"] for r in run.json()["results"]]


def test_bundled_names_then_a_target(cli, aiosmtpd_server):
    run = cli("run", "basic", "pipelining", aiosmtpd_server, "--var", "domain=example.test",
              "--format", "json", "--no-report")  # fmt: skip
    assert run.code == 0, run.stderr
    assert _scenarios(run) == ["basic", "pipelining"]


def test_files_folders_and_names_mixed(cli, aiosmtpd_server, tmp_path):
    folder = tmp_path / "mine"
    folder.mkdir()
    (folder / "one.yaml").write_text("name: one\nsteps:\n  - ehlo: c.test\n  - quit\n")
    (tmp_path / "two.yml").write_text("name: two\nsteps:\n  - noop\n  - quit\n")
    run = cli("run", "mine", "two.yml", "basic", aiosmtpd_server, "--var", "domain=example.test",
              "--format", "json", "--no-report")  # fmt: skip
    assert run.code == 0, run.stderr
    assert _scenarios(run) == ["one", "two", "basic"]


def test_where_the_targets_start(tmp_path, monkeypatch):
    # Split without running anything (a host name target would need DNS): a bundled name is a
    # scenario, the same name with a port is a target, and so is everything after it.
    import argparse

    from probe.cli import _more_scenarios

    monkeypatch.chdir(tmp_path)
    (tmp_path / "folder").mkdir()
    args = argparse.Namespace(
        targets=["syntax", "x.yaml", "folder", "basic:25", "basic", "mx.example.test"]
    )
    assert _more_scenarios(args) == [Path("syntax"), Path("x.yaml"), Path("folder")]
    assert args.targets == ["basic:25", "basic", "mx.example.test"]


def test_a_missing_scenario_file_is_a_usage_error(cli, aiosmtpd_server):
    run = cli("run", "basic", "nosuch.yaml", aiosmtpd_server, "--no-report")
    assert run.code == 2
    assert "nosuch.yaml" in run.stderr
