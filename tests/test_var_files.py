"""Variables as YAML test runners take them: `--var-file FILE` (KEY=VALUE lines or YAML) and
`SMTP_PROBE_VAR_NAME` environment variables, with the documented precedence: a target's own
variables, then --var, then the environment, then the files (a later one first), then the
scenario's default. Read through `run --dry-run`, which shows the commands as they would be sent."""

from __future__ import annotations

from pathlib import Path

SCENARIO = """name: vars
vars:
  a: default-a
  b: default-b
  c: default-c
  d: default-d
  e: default-e
steps:
  - ehlo: ${a}.${b}.${c}.${d}.${e}
"""


def _write(tmp_path: Path) -> None:
    (tmp_path / "vars.yaml").write_text(SCENARIO, encoding="utf-8")
    (tmp_path / "first.txt").write_text(
        "# variables for CI\nb=file-b\nc=file-c\n\n  d=file-d  \ne=file-e\n", encoding="utf-8"
    )
    (tmp_path / "second.yaml").write_text('c: "yaml-c"\nd: yaml-d\n', encoding="utf-8")
    (tmp_path / "targets.txt").write_text("127.0.0.1:2525 e=target-e\n", encoding="utf-8")


def test_precedence_target_then_var_then_environment_then_files_then_default(cli, tmp_path):
    _write(tmp_path)
    result = cli(
        "run", "vars.yaml", "--targets", "targets.txt", "--dry-run",
        "--var-file", "first.txt", "--var-file", "second.yaml",
        "--var", "d=cli-d", "--var", "e=cli-e",
        env={"SMTP_PROBE_VAR_c": "env-c", "SMTP_PROBE_VAR_d": "env-d", "SMTP_PROBE_VAR_e": "env-e"},
    )  # fmt: skip
    assert result.code == 0, result.stderr
    assert "C: EHLO default-a.file-b.env-c.cli-d.target-e" in result.stdout
    assert result.stderr == ""  # every variable is declared: no warning


def test_a_later_file_beats_an_earlier_one_and_files_beat_defaults(cli, tmp_path):
    _write(tmp_path)
    result = cli("run", "vars.yaml", "127.0.0.1:2525", "--dry-run",
                 "--var-file", "first.txt", "--var-file", "second.yaml")  # fmt: skip
    assert result.code == 0, result.stderr
    assert "C: EHLO default-a.file-b.yaml-c.yaml-d.file-e" in result.stdout
    swapped = cli("run", "vars.yaml", "127.0.0.1:2525", "--dry-run",
                  "--var-file", "second.yaml", "--var-file", "first.txt")  # fmt: skip
    assert "C: EHLO default-a.file-b.file-c.file-d.file-e" in swapped.stdout


def test_the_environment_alone_sets_a_variable(cli, tmp_path):
    _write(tmp_path)
    result = cli("run", "vars.yaml", "127.0.0.1:2525", "--dry-run",
                 env={"SMTP_PROBE_VAR_a": "env-a"})  # fmt: skip
    assert "C: EHLO env-a.default-b.default-c.default-d.default-e" in result.stdout


def test_unused_file_and_environment_variables_are_warnings(cli, tmp_path):
    _write(tmp_path)
    (tmp_path / "extra.txt").write_text("hots=x\n", encoding="utf-8")
    result = cli("run", "vars.yaml", "127.0.0.1:2525", "--dry-run", "--var-file", "extra.txt",
                 env={"SMTP_PROBE_VAR_sender": "secret-ish"})  # fmt: skip
    assert result.code == 0
    assert "smtp-probe: warning: --var-file extra.txt: hots=... is declared by no scenario" in (
        result.stderr
    )
    assert "smtp-probe: warning: environment: SMTP_PROBE_VAR_sender=... is declared by no" in (
        result.stderr
    )
    assert "secret-ish" not in result.stderr + result.stdout


def test_mistakes_in_variable_files_stop_the_run_with_their_place(cli, tmp_path):
    _write(tmp_path)
    (tmp_path / "bad.txt").write_text("a=1\nno equals sign\n1x=2\na=3\n", encoding="utf-8")
    (tmp_path / "bad.yaml").write_text("a: 1000\nb: [x]\n", encoding="utf-8")
    result = cli("run", "vars.yaml", "127.0.0.1:2525", "--var-file", "bad.txt",
                 "--var-file", "bad.yaml", "--var-file", "missing.txt")  # fmt: skip
    assert result.code == 2
    lines = result.stderr.splitlines()
    assert lines == [
        "smtp-probe: bad.txt:2: expected KEY=VALUE, got 'no equals sign'",
        "smtp-probe: bad.txt:3: '1x' is not a variable name (letters, digits, '_' and '-', not "
        "starting with a digit or '-')",
        "smtp-probe: bad.txt:4: variable 'a' is given twice",
        'smtp-probe: bad.yaml:1: vars: a is 1000 (a number), not a string; quote it: "1000"',
        "smtp-probe: bad.yaml:2: vars: b is a list, not a string",
        lines[5],
    ]
    assert lines[5].startswith("smtp-probe: missing.txt: cannot read variables:")
    env = cli("run", "vars.yaml", "127.0.0.1:2525", env={"SMTP_PROBE_VAR_a.b": "x"})
    assert env.code == 2
    assert "environment variable SMTP_PROBE_VAR_a.b: 'a.b' is not a variable name" in env.stderr
