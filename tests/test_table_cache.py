"""The code table's cache entry (probe.codes.table.load_table through probe.cache): a hit holds
the same table a fresh build gives, and a damaged entry is rebuilt, never trusted."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from probe.codes import table


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    where = tmp_path / "cache"
    monkeypatch.setenv("SMTP_PROBE_CACHE_DIR", str(where))
    monkeypatch.delenv("SMTP_PROBE_NO_CACHE", raising=False)
    table.load_table.cache_clear()
    yield where / "tables"
    table.load_table.cache_clear()


def test_a_hit_is_the_table_a_fresh_build_gives(
    folder: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fresh = table._build()
    first = table.load_table()  # a miss: built, then stored
    assert table._same(first, fresh)
    assert len(list(folder.glob("*.entry"))) == 1
    table.load_table.cache_clear()

    def refuse() -> table.CodeTable:
        raise AssertionError("the table was built again: not a cache hit")

    monkeypatch.setattr(table, "_build", refuse)
    hit = table.load_table()
    assert hit is not first and table._same(hit, fresh)
    assert hit.allowances("RCPT", 250) == fresh.allowances("RCPT", 250) != []


def test_a_damaged_entry_is_built_again(folder: Path) -> None:
    table.load_table()
    (entry,) = folder.glob("*.entry")
    entry.write_bytes(entry.read_bytes()[:-40] + b"\x00" * 40)
    table.load_table.cache_clear()
    rebuilt = table.load_table()
    assert table._same(rebuilt, table._build())


def test_off_when_asked(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SMTP_PROBE_NO_CACHE", "1")
    table.load_table()
    assert not folder.exists()
