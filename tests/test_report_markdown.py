"""`run --format markdown` and `run --summary FILE`, read as GitHub shows a job summary: rendered
by cmark-gfm (GitHub's Markdown engine, through cmarkgfm), then the HTML read back for its
tables, cells, details blocks and links. Server text must stay text: no extra cells, links or
HTML elements made from what a server said."""

from __future__ import annotations

from html.parser import HTMLParser
from pathlib import Path

import cmarkgfm
from cmarkgfm.cmark import Options
from servers import Behaviour, ScriptedServer, ehlo

STEPS = """name: ci
steps:
  - connect
  - ehlo: probe.test
  - noop
  - mail: probe@probe.test
  - rcpt: {to: postmaster@example.test, expect: 250, stop_on_fail: true}
  - quit
"""

# NOOP's reply tries to be a table cell separator, a link, HTML and a code fence.
HOSTILE = "252 2.0.0 fine | [x](http://e.test) www.e.test <b>bold</b> ``` *em*"
BROKEN = Behaviour(
    replies={
        "EHLO": ehlo("PIPELINING"),
        "NOOP": HOSTILE.encode() + b"\r\n",
        "RCPT": b"550 5.1.1 no such user\r\n",
    }
)


class Page(HTMLParser):
    """The parts of rendered HTML a reader sees: table rows (cell texts), details blocks
    (summary, preformatted text), and every element's tag."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tables: list[list[list[str]]] = []
        self.details: list[dict[str, str]] = []
        self.tags: list[str] = []
        self.headings: list[str] = []
        self.hrefs: list[str] = []
        self._cell: list[str] | None = None
        self._where: list[str] = []
        self.feed(html)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.append(tag)
        self._where.append(tag)
        self.hrefs += [value or "" for name, value in attrs if name == "href"]
        if tag == "table":
            self.tables.append([])
        elif tag == "tr":
            self.tables[-1].append([])
        elif tag in ("td", "th"):
            self._cell = []
        elif tag == "details":
            self.details.append({"summary": "", "pre": ""})

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1][-1].append("".join(self._cell).strip())
            self._cell = None
        if self._where and self._where[-1] == tag:
            self._where.pop()

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)
        if "summary" in self._where and self.details:
            self.details[-1]["summary"] += data
        if "pre" in self._where and self.details:
            self.details[-1]["pre"] += data
        if self._where and self._where[-1] in ("h2", "h3"):
            self.headings.append(data)


def github(markdown: str) -> Page:
    # GitHub keeps <details> and <summary> (its sanitizer allows them): render raw HTML too.
    return Page(
        cmarkgfm.github_flavored_markdown_to_html(markdown, options=Options.CMARK_OPT_UNSAFE)
    )


def test_markdown_is_a_table_per_server_and_a_details_block_per_step_not_passed(cli, tmp_path):
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    with ScriptedServer(BROKEN) as server:
        result = cli("run", "ci.yaml", server.target, "--format", "markdown", "--no-report")
    assert result.code == 1, result.stderr  # the usual exit code
    page = github(result.stdout)
    assert page.headings[0] == "smtp-probe: 1 fail (profile rfc5321)"

    overview, steps = page.tables
    assert overview[0] == ["verdict", "scenario", "server", "steps", "time"]
    assert overview[1][:4] == ["❌ fail", "ci", server.target, "3 pass, 1 warn, 1 fail, 1 skip"]

    assert steps[0] == ["#", "step", "verdict", "reply", "ms"]
    rows = {row[1]: row for row in steps[1:]}
    assert list(rows) == [
        "connect",
        "ehlo probe.test",
        "noop",
        "mail <probe@probe.test>",
        "rcpt <postmaster@example.test>",
        "quit",
    ]
    assert rows["rcpt <postmaster@example.test>"][2:4] == ["❌ fail", "550 5.1.1 no such user"]
    assert rows["quit"][2] == "⏭️ skip"
    assert rows["quit"][3].startswith("stopped after")
    # The hostile reply is one cell, shown as the server sent it: no link, no <b>, no new cell.
    assert rows["noop"][2:4] == ["⚠️ warn", HOSTILE]
    assert all(len(row) == 5 for row in steps)
    assert "b" not in page.tags and "em" not in page.tags
    assert not [href for href in page.hrefs if not href.startswith("mailto:")]

    # One details block per step that did not pass, closed, with the exchange and the source.
    summaries = [d["summary"] for d in page.details]
    assert summaries == [
        summaries[0],
        "❌ fail: rcpt <postmaster@example.test>: expected 250 (must): got 550",
    ]
    assert summaries[0].startswith("⚠️ warn: noop: NOOP is to be answered 250, got 252")
    noop, rcpt = (d["pre"] for d in page.details)
    assert f"S: {HOSTILE}\n" in noop  # the fence outlasts the reply's own ```
    assert "source: RFC 5321 §4.1.1.9" in noop
    assert "C: RCPT TO:<postmaster@example.test>\nS: 550 5.1.1 no such user\n" in rcpt


def test_summary_appends_to_the_file_github_gives(cli, tmp_path: Path):
    summary = tmp_path / "step_summary.md"
    summary.write_text("# Earlier step\n\n", encoding="utf-8")
    (tmp_path / "ci.yaml").write_text(STEPS, encoding="utf-8")
    with ScriptedServer(BROKEN) as server:
        for _ in range(2):
            result = cli(
                "run", "ci.yaml", server.target, "--summary", str(summary), "--no-report",
                env={"GITHUB_STEP_SUMMARY": str(summary)},
            )  # fmt: skip
            assert result.code == 1
    assert result.stdout.startswith("FAIL  ci -> ")  # stdout keeps its own format
    text = summary.read_text(encoding="utf-8")
    assert text.startswith("# Earlier step\n\n## smtp-probe: 1 fail")
    page = github(text)
    assert len(page.tables) == 4  # two runs, each an overview and a step table
    assert len(page.details) == 4
