"""`run --html FILE`, opened in Debian's real headless Chromium (tests/chromium.py), checked for
what a person sees: the counts, cells coloured by verdict, a clicked cell opening its exchange and
the rule behind its verdict, the filter box narrowing the rows; and that the page fetches nothing
and runs nothing a server sent."""

from __future__ import annotations

from pathlib import Path

import pytest
from chromium import Browser, chromium
from servers import Behaviour, ScriptedServer, ehlo

from probe.demo import free_port

STEPS = "name: ci\nsteps:\n  - connect\n  - ehlo: probe.test\n  - noop\n  - help\n  - quit\n"
# NOOP's reply tries to run script and fetch an image; HELP's breaks the grammar (a fail).
HOSTILE = b'252 2.0.0 <script>window.pwned=1</script><img src="http://192.0.2.1/x.png">\r\n'
BROKEN = Behaviour(
    replies={"EHLO": ehlo("PIPELINING"), "NOOP": HOSTILE, "HELP": b"214 see\x01manual\r\n"}
)
CLEAN = Behaviour(replies={"EHLO": ehlo("PIPELINING"), "HELP": b"214 2.0.0 see the manual\r\n"})

PASS_GREEN, WARN_AMBER = "rgb(218, 251, 225)", "rgb(255, 248, 197)"
FAIL_RED, ERROR_PURPLE = "rgb(255, 235, 233)", "rgb(251, 239, 255)"


@pytest.fixture(scope="module")
def report(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    import subprocess
    import sys

    folder = tmp_path_factory.mktemp("html")
    (folder / "ci.yaml").write_text(STEPS, encoding="utf-8")
    refused = f"127.0.0.1:{free_port()}"
    with ScriptedServer(BROKEN) as broken, ScriptedServer(CLEAN) as clean:
        proc = subprocess.run(
            [sys.executable, "-m", "probe", "run", "ci.yaml", broken.target, clean.target,
             refused, "--html", "report.html", "--no-report"],
            capture_output=True, text=True, cwd=folder, timeout=60,
        )  # fmt: skip
    assert proc.returncode == 1, proc.stdout + proc.stderr
    return folder / "report.html", {"broken": broken.target, "clean": clean.target,
                                    "refused": refused}  # fmt: skip


@pytest.fixture(scope="module")
def page(report):
    path, _ = report
    with Browser(chromium()) as browser:
        browser.open(path)
        yield browser


def test_the_page_fetches_nothing_and_runs_nothing_a_server_sent(page, report):
    path, _ = report
    assert page.requests == [path.resolve().as_uri()]  # the file itself, nothing else
    assert page.evaluate("window.pwned === undefined")
    assert page.evaluate("document.scripts.length") == 1
    assert page.evaluate("document.images.length") == 0


def test_counts_and_cells_are_coloured_by_verdict(page, report):
    _, targets = report
    badges = page.evaluate(
        "[...document.querySelectorAll('.totals .badge')].map(b => "
        "[b.textContent, getComputedStyle(b).backgroundColor])"
    )
    assert badges == [
        ["1 pass", PASS_GREEN],
        ["1 fail", FAIL_RED],
        ["1 error", "rgb(251, 239, 255)"],
    ]
    rows = page.evaluate(
        "[...document.querySelectorAll('tr.result')].map(r => [r.querySelector('th').textContent,"
        " [...r.querySelectorAll('td.cell')].map(c => c.textContent + ' ' +"
        " getComputedStyle(c).backgroundColor)])"
    )
    broken, clean, refused = rows
    assert broken[0] == targets["broken"]
    assert broken[1] == [f"✓ {PASS_GREEN}", f"✓ {PASS_GREEN}", f"! {WARN_AMBER}", f"✗ {FAIL_RED}",
                         f"✓ {PASS_GREEN}"]  # fmt: skip
    assert clean[1] == [f"✓ {PASS_GREEN}"] * 4 + [f"✓ {PASS_GREEN}"]
    assert refused[0] == targets["refused"]
    assert refused[1][0] == f"E {ERROR_PURPLE}"
    assert all(cell.startswith("– ") for cell in refused[1][1:])


def test_a_click_on_a_cell_opens_the_exchange_and_the_rule(page):
    assert page.evaluate("document.getElementById('panel').hidden")
    page.click("tr.result:nth-child(1) td.cell[data-step='help']")
    panel = page.evaluate(
        "(() => { const p = document.getElementById('panel');"
        " return [p.hidden, p.offsetHeight > 0, p.innerText]; })()"
    )
    hidden, drawn, text = panel
    assert not hidden and drawn
    assert "C: HELP\nS: 214 see\\x01manual" in text
    assert "fail: line 1 has 1 octet outside HT and 32-126" in text
    assert "source: RFC 5321 §4.2 (textstring)" in text
    assert page.evaluate("document.querySelectorAll('td.cell.open').length") == 1
    # Another cell replaces it: the warning, with the server's text shown as text.
    page.click("tr.result:nth-child(1) td.cell[data-step='noop']")
    text = page.evaluate("document.getElementById('panel').innerText")
    assert "<script>window.pwned=1</script>" in text
    assert "warn: NOOP is to be answered 250, got 252" in text
    assert page.evaluate("window.pwned === undefined")


def test_the_filter_keeps_the_rows_holding_every_word(page, report, tmp_path):
    _, targets = report

    def visible() -> list[str]:
        return page.evaluate(
            "[...document.querySelectorAll('tr.result')].filter(r => r.offsetHeight > 0)"
            ".map(r => r.querySelector('th').textContent)"
        )

    page.click("#filter")
    page.type("fail")
    assert visible() == [targets["broken"]]
    assert page.evaluate("document.getElementById('shown').textContent") == "1 of 3 results shown"
    page.evaluate("(() => { const f = document.getElementById('filter'); f.value = '';"
                  " f.dispatchEvent(new Event('input')); })()")  # fmt: skip
    assert len(visible()) == 3
    page.click("#filter")
    page.type(f"ci {targets['refused']}")
    assert visible() == [targets["refused"]]
    (tmp_path / "filtered.png").write_bytes(page.screenshot())  # for a person to look at
