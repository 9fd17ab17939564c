"""The code table's precomputed form (probe/codes/table_data.py) is table.yaml, exactly."""

from __future__ import annotations

import yaml

from probe.codes import precompute, table, table_data


def test_precomputed_form_is_up_to_date() -> None:
    # Regenerate with: python -m probe.codes.precompute
    expected = precompute.render(precompute.YAML_PATH.read_bytes())
    assert precompute.DATA_PATH.read_text(encoding="utf-8") == expected, (
        "probe/codes/table_data.py is out of date: run python -m probe.codes.precompute"
    )


def test_precomputed_data_equals_the_yaml() -> None:
    raw = precompute.YAML_PATH.read_bytes()
    assert yaml.safe_load(raw.decode("utf-8")) == table_data.DATA
    assert precompute.fingerprint(raw) == (table_data.YAML_SIZE, table_data.YAML_CRC32)


def test_precomputed_and_yaml_give_the_same_table() -> None:
    from_data = table.parse_table(table_data.DATA)
    from_yaml = table.parse_table(yaml.safe_load(precompute.YAML_PATH.read_text("utf-8")))
    assert from_data.commands == from_yaml.commands
    for command in from_data.commands:
        assert from_data.entries(command) == from_yaml.entries(command)
        assert from_data.fixed(command) == from_yaml.fixed(command)
        assert from_data.spec(command) == from_yaml.spec(command)
    assert from_data.sequence == from_yaml.sequence
    assert from_data.required == from_yaml.required
    assert from_data.no_arguments == from_yaml.no_arguments
    assert from_data.conditions == from_yaml.conditions
    assert from_data.documents == from_yaml.documents


def test_an_edited_yaml_wins_over_a_stale_precomputed_form(tmp_path, monkeypatch) -> None:
    edited = precompute.YAML_PATH.read_text("utf-8").replace(
        "schema: 1", "schema: 1\n# an edit not yet precomputed", 1
    )
    path = tmp_path / "table.yaml"
    path.write_text(edited, encoding="utf-8")
    monkeypatch.setattr(precompute, "YAML_PATH", path)
    monkeypatch.setattr(table_data, "DATA", {"schema": 99})  # would fail if it were used
    table.load_table.cache_clear()
    try:
        assert "EHLO" in table.load_table().commands
    finally:
        table.load_table.cache_clear()


def test_check_mode_reports_a_stale_form(tmp_path, monkeypatch, capsys) -> None:
    stale = tmp_path / "table_data.py"
    stale.write_text("YAML_SIZE = 0\n", encoding="utf-8")
    monkeypatch.setattr(precompute, "DATA_PATH", stale)
    assert precompute.main(["--check"]) == 1
    assert "out of date" in capsys.readouterr().out
