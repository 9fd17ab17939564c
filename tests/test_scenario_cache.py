"""The cache of parsed scenarios (probe.scenario.cache): a hit is the scenario a fresh parse gives,
and anything that changes what the file means is a miss."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from probe.scenario import cache, loader
from probe.scenario.errors import ScenarioError
from probe.scenario.yamlnodes import MAX_BYTES

ROOT = Path(__file__).resolve().parent.parent
SCENARIOS = sorted((ROOT / "scenarios").glob("*.yaml"))


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    where = tmp_path / "cache"
    monkeypatch.setenv("SMTP_PROBE_CACHE_DIR", str(where))
    monkeypatch.delenv("SMTP_PROBE_NO_CACHE", raising=False)
    return where / "scenarios"


def entries(folder: Path) -> list[Path]:
    return sorted(folder.glob("*.entry")) if folder.is_dir() else []


def no_loader(monkeypatch: pytest.MonkeyPatch) -> None:
    """From here on, reaching the YAML loader fails the test (a hit must not need it)."""

    def refuse(*args: object, **kwargs: object) -> None:
        raise AssertionError("the loader ran: not a cache hit")

    monkeypatch.setattr(loader, "load_path", refuse)


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_a_hit_is_the_scenario_a_fresh_parse_gives(
    path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = loader.load_path(path)
    first = cache.load_path(path)  # a miss: parsed, then stored
    assert first == fresh
    if not cache.cacheable(fresh[0]):
        assert entries(folder) == []
        return
    assert len(entries(folder)) == 1
    no_loader(monkeypatch)
    assert cache.load_path(path) == fresh


def test_an_edited_file_is_parsed_again(
    tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = tmp_path / "edited.yaml"
    path.write_text("steps:\n  - connect\n  - ehlo: a.example\n  - quit\n")
    before = cache.load_path(path)
    path.write_text("steps:\n  - connect\n  - ehlo: b.example\n  - quit\n")
    after = cache.load_path(path)
    assert after == loader.load_path(path)
    assert before[0].steps[1].arg == "a.example" and after[0].steps[1].arg == "b.example"
    assert len(entries(folder)) == 2
    # Both are hits now, each for its own bytes.
    no_loader(monkeypatch)
    assert cache.load_path(path) == after


def test_a_file_that_no_longer_loads_is_not_answered_from_the_cache(
    tmp_path: Path, folder: Path
) -> None:
    path = tmp_path / "broken.yaml"
    path.write_text("steps:\n  - connect\n  - quit\n")
    cache.load_path(path)
    path.write_text("steps:\n  - connect\n  - qiut\n")
    with pytest.raises(ScenarioError, match="qiut"):
        cache.load_path(path)


def test_the_same_bytes_at_another_path_are_another_entry(tmp_path: Path, folder: Path) -> None:
    text = "steps:\n  - connect\n  - quit\n"
    (tmp_path / "one.yaml").write_text(text)
    (tmp_path / "two.yaml").write_text(text)
    one = cache.load_path(tmp_path / "one.yaml")[0]
    two = cache.load_path(tmp_path / "two.yaml")[0]
    assert (one.name, two.name) == ("one", "two")  # the default name comes from the path
    assert two.steps[0].position.file == str(tmp_path / "two.yaml")


def test_a_corrupt_entry_is_ignored(tmp_path: Path, folder: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - connect\n  - quit\n")
    fresh = cache.load_path(path)
    (entry,) = entries(folder)
    blob = entry.read_bytes()
    entry.write_bytes(blob[: len(blob) - 40] + b"\x00" * 40)  # the pickle cut short
    assert cache.load_path(path) == fresh
    entry.write_bytes(b"not an entry")
    assert cache.load_path(path) == fresh


def test_a_scenario_with_a_message_file_is_not_cached(tmp_path: Path, folder: Path) -> None:
    (tmp_path / "msg.eml").write_text("Subject: x\n\nhello\n")
    path = tmp_path / "s.yaml"
    path.write_text(
        "steps:\n  - connect\n  - ehlo: a.example\n  - mail: a@a.example\n"
        "  - rcpt: b@b.example\n  - data: {file: msg.eml}\n  - quit\n"
    )
    cache.load_path(path)
    assert entries(folder) == []
    # Loading checks the message file: with it gone, the scenario no longer loads.
    (tmp_path / "msg.eml").unlink()
    with pytest.raises(ScenarioError, match="message file"):
        cache.load_path(path)


def test_a_folder_writable_by_others_is_not_used(tmp_path: Path, folder: Path) -> None:
    folder.mkdir(parents=True)
    os.chmod(folder, 0o777)
    assert cache.cache_dir() is None
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - connect\n  - quit\n")
    assert cache.load_path(path) == loader.load_path(path)
    assert entries(folder) == []


def test_off_when_asked(tmp_path: Path, folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PROBE_NO_CACHE", "1")
    path = tmp_path / "s.yaml"
    path.write_text("steps:\n  - connect\n  - quit\n")
    cache.load_path(path)
    assert entries(folder) == []


def test_the_size_limit_is_the_loaders() -> None:
    assert cache.MAX_SOURCE == MAX_BYTES
