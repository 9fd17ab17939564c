"""One self-contained HTML report (`run --html FILE`): what a person opens after a CI run.

Per scenario a matrix, servers down and steps across, each cell coloured by the step's verdict;
a click on a cell (or Enter on it) opens the exchange and the findings behind its verdict, each
with what was expected and its source; a search box keeps the rows whose server, scenario or
verdict hold every word typed. Everything is in the one file: styles and script inline, no
fonts, images or scripts fetched, and a Content-Security-Policy that forbids any fetch.
"""

from __future__ import annotations

import html
from collections.abc import Iterable

from probe import __version__
from probe.report.junit import xml_text
from probe.report.redact import Redactor
from probe.report.text import step_transcript
from probe.results import RunResult, ServerResult, StepResult, Verdict

_SYMBOL = {
    Verdict.PASS: "✓",
    Verdict.WARN: "!",
    Verdict.FAIL: "✗",
    Verdict.ERROR: "E",
    Verdict.SKIP: "–",
    Verdict.NO_MAIL: "–",
    Verdict.NO_SERVICE: "–",
}

_CSP = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"

_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #1f2328; }
h1 { font-size: 1.4em; margin: 0 0 .3em; }
h2 { font-size: 1.1em; margin: 1.5em 0 .4em; }
.badge { display: inline-block; padding: .1em .6em; border-radius: 1em; margin-right: .4em;
  font-weight: 600; border: 1px solid transparent; }
.v-pass { background: #dafbe1; color: #116329; border-color: #4ac26b; }
.v-warn { background: #fff8c5; color: #7d4e00; border-color: #d4a72c; }
.v-fail { background: #ffebe9; color: #a40e26; border-color: #ff8182; }
.v-error { background: #fbefff; color: #6e40c9; border-color: #c297ff; }
.v-skip, .v-no-mail, .v-no-service { background: #f6f8fa; color: #59636e; border-color: #d1d9e0; }
#filter { font: inherit; padding: .3em .5em; width: 24em; margin: .6em .6em .6em 0; }
table.matrix { border-collapse: collapse; margin-bottom: 1em; }
table.matrix th, table.matrix td { border: 1px solid #d1d9e0; padding: .25em .5em; }
table.matrix th.step { writing-mode: vertical-rl; transform: rotate(180deg); font-weight: 500;
  max-height: 14em; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
table.matrix th.server { text-align: left; font-weight: 500; white-space: nowrap; }
td.cell { text-align: center; cursor: pointer; min-width: 1.6em; font-weight: 700; }
td.cell.open { outline: 3px solid #0969da; outline-offset: -3px; }
#panel { border: 1px solid #d1d9e0; border-radius: 6px; padding: .8em 1em; margin-top: 1em;
  background: #fff; }
#panel pre, .detail pre { background: #f6f8fa; padding: .6em; overflow-x: auto;
  white-space: pre-wrap; }
.findings li { margin: .3em 0; }
.source, .expected { color: #59636e; font-size: .92em; }
"""

_SCRIPT = """
(function () {
  var panel = document.getElementById('panel');
  function open(cell) {
    document.querySelectorAll('td.cell.open').forEach(function (c) {
      c.classList.remove('open');
    });
    cell.classList.add('open');
    var detail = document.getElementById(cell.dataset.detail);
    panel.innerHTML = detail.innerHTML;
    panel.dataset.open = cell.dataset.detail;
    panel.hidden = false;
  }
  document.addEventListener('click', function (event) {
    var cell = event.target.closest('td.cell[data-detail]');
    if (cell) { open(cell); }
  });
  document.addEventListener('keydown', function (event) {
    var cell = event.target.closest && event.target.closest('td.cell[data-detail]');
    if (cell && (event.key === 'Enter' || event.key === ' ')) {
      event.preventDefault();
      open(cell);
    }
  });
  var filter = document.getElementById('filter');
  var shown = document.getElementById('shown');
  var rows = Array.prototype.slice.call(document.querySelectorAll('tr.result'));
  filter.addEventListener('input', function () {
    var words = filter.value.toLowerCase().split(/\\s+/).filter(Boolean);
    var count = 0;
    rows.forEach(function (row) {
      var keep = words.every(function (w) { return row.dataset.search.indexOf(w) >= 0; });
      row.hidden = !keep;
      if (keep) { count += 1; }
    });
    document.querySelectorAll('section.scenario').forEach(function (section) {
      section.hidden = !section.querySelector('tr.result:not([hidden])');
    });
    shown.textContent = count + ' of ' + rows.length + ' results shown';
  });
})();
"""


def _e(text: str) -> str:
    return html.escape(xml_text(text), quote=True)


def render(run: RunResult, redact: Redactor) -> str:
    results = run.results
    details: list[str] = []
    body = [
        "<h1>smtp-probe report</h1>",
        f'<p class="meta">{_e(run.started_at)} · profile {_e(run.profile)}'
        f"{' · strict' if run.strict else ''}{' · interrupted' if run.interrupted else ''}"
        f" · {run.duration * 1000:.0f} ms · smtp-probe {_e(__version__)}</p>",
        f'<p class="totals">{_totals(results)}</p>',
        '<p><input id="filter" type="search" placeholder="filter by server, scenario or '
        'verdict" aria-label="filter"> '
        f'<span id="shown">{len(results)} of {len(results)} results shown</span></p>',
    ]
    for scenario, group in _by_scenario(results):
        body += _matrix(scenario, group, details, redact)
    body.append('<aside id="panel" hidden aria-live="polite"></aside>')
    body.append('<div id="details" hidden>')
    body += details
    body.append("</div>")
    return (
        "<!DOCTYPE html>\n"
        '<html lang="en">\n<head>\n<meta charset="utf-8">\n'
        f'<meta http-equiv="Content-Security-Policy" content="{_CSP}">\n'
        '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
        "<title>smtp-probe report</title>\n"
        f"<style>{_STYLE}</style>\n</head>\n<body>\n"
        + "\n".join(body)
        + f"\n<script>{_SCRIPT}</script>\n</body>\n</html>\n"
    )


def _totals(results: list[ServerResult]) -> str:
    parts = []
    for verdict in Verdict:
        count = sum(r.verdict is verdict for r in results)
        if count:
            parts.append(
                f'<span class="badge v-{verdict}" data-verdict="{verdict}">{count} {verdict}</span>'
            )
    return "".join(parts) or "no results"


def _by_scenario(
    results: list[ServerResult],
) -> Iterable[tuple[str, list[tuple[int, ServerResult]]]]:
    groups: dict[str, list[tuple[int, ServerResult]]] = {}
    for index, result in enumerate(results):
        groups.setdefault(result.scenario, []).append((index, result))
    return groups.items()


def _matrix(
    scenario: str, group: list[tuple[int, ServerResult]], details: list[str], redact: Redactor
) -> list[str]:
    columns = max((r.steps for _, r in group), key=len)
    out = [
        f'<section class="scenario" data-scenario="{_e(scenario)}">',
        f"<h2>{_e(scenario)}</h2>",
        '<table class="matrix">',
        '<thead><tr><th class="server">server</th><th>verdict</th>'
        + "".join(f'<th class="step" title="{_e(s.label)}">{_e(s.label)}</th>' for s in columns)
        + "</tr></thead>",
        "<tbody>",
    ]
    for index, result in group:
        where = result.target
        if result.address and result.address != result.target:
            where += f" ({result.address})"
        search = " ".join([result.scenario, where, str(result.verdict)]).lower()
        cells = []
        for number, step in enumerate(result.steps):
            ident = f"d-{index}-{number}"
            details.append(_detail(ident, result, step, redact))
            cells.append(
                f'<td class="cell v-{step.verdict}" data-verdict="{step.verdict}" '
                f'data-step="{_e(step.label)}" data-detail="{ident}" tabindex="0" '
                f'title="{_e(step.label)}: {step.verdict}">{_SYMBOL[step.verdict]}</td>'
            )
        cells += ["<td></td>"] * (len(columns) - len(result.steps))
        reason = f' title="{_e(redact(result.reason))}"' if result.reason else ""
        out.append(
            f'<tr class="result" data-search="{_e(search)}" data-verdict="{result.verdict}">'
            f'<th class="server">{_e(where)}</th>'
            f'<td class="v-{result.verdict}"{reason}>{result.verdict}</td>'
            + "".join(cells)
            + "</tr>"
        )
    out += ["</tbody>", "</table>", "</section>"]
    return out


def _detail(ident: str, result: ServerResult, step: StepResult, redact: Redactor) -> str:
    title = f"{result.scenario} › {step.label} on {result.target}"
    lines = [
        f'<section class="detail" id="{ident}">',
        f'<h3>{_e(title)} <span class="badge v-{step.verdict}">{step.verdict}</span></h3>',
    ]
    if step.position:
        lines.append(f'<p class="position">at {_e(step.position)}</p>')
    if step.reason:
        lines.append(f'<p class="reason">{_e(redact(step.reason))}</p>')
    transcript = [line for line in step_transcript(step, redact) if line[:3] in ("C: ", "S: ")]
    errors = [e.error for e in step.exchanges if e.error]
    if transcript or errors:
        shown = "\n".join([*transcript, *(f"!  {error}" for error in errors)])
        lines.append(f'<pre class="exchange">{_e(redact(shown))}</pre>')
    findings = [f for f in step.findings if f.verdict is not Verdict.PASS or f.expected]
    if findings:
        lines.append('<ul class="findings">')
        for finding in findings:
            extra = ""
            if finding.expected:
                extra += f'<div class="expected">expected: {_e(finding.expected)}</div>'
            if finding.source:
                extra += f'<div class="source">source: {_e(finding.source)}</div>'
            lines.append(
                f'<li class="finding v-{finding.verdict}"><b>{finding.verdict}</b>: '
                f"{_e(redact(finding.message))}{extra}</li>"
            )
        lines.append("</ul>")
    if step.why:
        lines.append(f'<p class="why">why: {_e(step.why)}</p>')
    lines.append("</section>")
    return "\n".join(lines)
