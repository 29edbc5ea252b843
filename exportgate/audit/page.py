"""The self-contained HTML report: integrity first, then figures, charts and tables.

One file: Plotly.js (from the `plotly` package) and the few lines of table sorting and
filtering are inlined, so the report opens offline, from an e-mail attachment or an evidence
archive. Every number on the page carries a ``data-figure`` attribute so tests (and auditors'
tools) can compare it with the CSV.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from html import escape
from typing import Any, Final, TextIO

from exportgate.audit.charts import ACTION_COLOURS, all_charts
from exportgate.audit.collect import Collected
from exportgate.audit.figures import DENIAL_ROWS, DENY, threshold_party
from exportgate.audit.rows import COLUMNS

DENIAL_COLUMNS: Final = (
    "time", "cluster", "tenant", "kind", "namespace", "name", "rule", "citation",
    "verification", "products", "models", "user", "id",
)  # fmt: skip

TABLE_ROWS: Final = 5000  # rows per table on the page; the JSON has every one

STYLE: Final = """
body{font-family:system-ui,sans-serif;margin:24px;color:#222;max-width:1400px}
h1{margin-bottom:0}.sub{color:#666;margin-top:4px}
.cards{display:flex;gap:12px;flex-wrap:wrap}.card{border:1px solid #ddd;border-radius:8px;
padding:10px 16px;min-width:110px}.card b{display:block;font-size:1.6em}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(560px,1fr));gap:16px}
table{border-collapse:collapse;width:100%;font-size:13px;margin:8px 0}
th,td{border-bottom:1px solid #eee;padding:4px 6px;text-align:left;vertical-align:top}
th{cursor:pointer;background:#fafafa;position:sticky;top:0}th:after{content:" \\2195";color:#bbb}
.status-intact,.status-recovered{color:#2e7d32}.status-torn,.status-missing-segments{color:#ef6c00}
.status-tampered,.status-unreadable{color:#c62828;font-weight:bold}
.banner{padding:10px 14px;border-radius:6px;margin:12px 0}.bad{background:#fdecea}
.good{background:#edf7ed}input.filter{margin:6px 0;padding:4px;width:320px}
.note{color:#666;font-size:13px}
"""

# Sorting (click a header; numbers sort as numbers) and filtering (substring, any column).
SCRIPT: Final = """
document.querySelectorAll('table.sortable').forEach(function(t){
  t.querySelectorAll('th').forEach(function(th,i){th.addEventListener('click',function(){
    var b=t.tBodies[0],rows=Array.from(b.rows),asc=th.dataset.asc!=='1';th.dataset.asc=asc?'1':'0';
    rows.sort(function(x,y){var a=x.cells[i].textContent,c=y.cells[i].textContent,
      n=parseFloat(a),m=parseFloat(c);var r=(!isNaN(n)&&!isNaN(m)&&String(n)===a&&String(m)===c)?
      n-m:a.localeCompare(c);return asc?r:-r;});
    rows.forEach(function(r){b.appendChild(r);});});});});
document.querySelectorAll('input.filter').forEach(function(f){f.addEventListener('input',function(){
  var q=f.value.toLowerCase(),t=document.getElementById(f.dataset.table);
  Array.from(t.tBodies[0].rows).forEach(function(r){
    r.style.display=r.textContent.toLowerCase().indexOf(q)>=0?'':'none';});});});
var charts=JSON.parse(document.getElementById('chart-data').textContent);
Object.keys(charts).forEach(function(id){
  Plotly.newPlot(id,charts[id].data,charts[id].layout,{displaylogo:false,responsive:true});});
"""


def _json_script(data: Any) -> str:
    # "</" cannot end the script element early once escaped.
    return json.dumps(data, ensure_ascii=False).replace("</", "<\\/")


def _table(table_id: str, header: Sequence[str], rows: Iterable[Sequence[Any]]) -> str:
    head = "".join(f"<th>{escape(h)}</th>" for h in header)
    body = "".join(
        "<tr>" + "".join(f"<td>{escape(str(c))}</td>" for c in row) + "</tr>" for row in rows
    )
    return (
        f'<input class="filter" data-table="{table_id}" placeholder="filter rows...">'
        f'<table class="sortable" id="{table_id}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{body}</tbody></table>"
    )


def _capped(total: int, what: str) -> str:
    if total <= TABLE_ROWS:
        return ""
    return (
        f"<p class='note'>The first {TABLE_ROWS} of {total} {escape(what)}; the JSON output "
        "has all of them.</p>"
    )


def _card(label: str, value: int, key: str, colour: str = "#222") -> str:
    return (
        f'<div class="card">{escape(label)}<b style="color:{colour}" '
        f'data-figure="{escape(key)}">{value}</b></div>'
    )


def _chart(charts: dict[str, Any], chart_id: str, empty: str) -> str:
    if chart_id in charts:
        return f'<div class="chart" id="{chart_id}"></div>'
    return f'<div class="note" id="{chart_id}-empty">{escape(empty)}</div>'


def write_html(collected: Collected, out: TextIO, *, title: str, plotly_js: str) -> None:
    figures = collected.figures
    charts = all_charts(figures)
    period = (
        f"{collected.since or 'the beginning'} to {collected.until or 'the end'} (UTC); "
        f"records from {figures.first_time or '-'} to {figures.last_time or '-'}"
    )
    bad = [s for s in collected.files if not s.ok]
    banner = (
        f'<div class="banner bad" data-figure="files-not-intact">{len(bad)} of '
        f"{len(collected.files)} files are NOT intact: see below before trusting the figures."
        "</div>"
        if bad
        else f'<div class="banner good">All {len(collected.files)} files verify.</div>'
    )
    file_rows = [
        (f'<span class="status-{s.status}">{escape(s.status)}</span>', s) for s in collected.files
    ]
    files_table = (
        '<table class="sortable" id="files"><thead><tr><th>file</th><th>status</th>'
        "<th>records</th><th>what it means</th></tr></thead><tbody>"
        + "".join(
            f"<tr><td>{escape(s.path)}</td><td>{status}</td><td>{s.records}</td>"
            f"<td>{escape(s.text)}</td></tr>"
            for status, s in file_rows
        )
        + "</tbody></table>"
    )
    cards = _card("decisions", figures.total, "decisions") + "".join(
        _card(action, figures.by_action.get(action, 0), f"action-{action}", colour)
        for action, colour in ACTION_COLOURS.items()
    )
    cards += _card("replayable", figures.replayable, "replayable")
    cards += _card("threshold crossings", figures.thresholds_total, "thresholds")
    index = [COLUMNS.index(c) for c in DENIAL_COLUMNS]
    denials = [[row[i] for i in index] for row in reversed(figures.denial_rows)]
    shown = len(denials)
    denied_total = figures.by_action.get(DENY, 0)
    tenants = [(t, n, *(c.get(a, 0) for a in ACTION_COLOURS)) for t, n, c in figures.tenants()]
    kyc = [(t, ref, n, a, b) for (t, ref), (n, a, b) in sorted(figures.kyc_expiries.items())]
    rules = [(r, n) for r, n in figures.deny_by_rule.most_common()]
    thresholds = [
        (r.get("time", ""), r.get("cluster", ""), r.get("type", ""), threshold_party(r),
         json.dumps({k: v for k, v in r.items() if k not in ("time", "type", "tenant")}))
        for r in figures.thresholds
    ]  # fmt: skip
    others = sorted(figures.other_types.items())
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{escape(title)}</title>",
        f"<style>{STYLE}</style><script>{plotly_js}</script></head><body>",
        f"<h1>{escape(title)}</h1><p class='sub'>{escape(period)}</p>",
        "<h2>Integrity</h2>",
        banner,
        files_table,
        "<h2>Decisions</h2>",
        f'<div class="cards">{cards}</div>',
        _chart(charts, "chart-over-time", "No decisions in this period."),
        '<div class="grid">',
        _chart(charts, "chart-deny-rule", "No denials."),
        _chart(charts, "chart-deny-citation", "No denials."),
        _chart(charts, "chart-top-denied", "No denied tenants."),
        _chart(charts, "chart-tenants", "No tenants."),
        _chart(charts, "chart-deny-class", "No denials of accelerators."),
        _chart(charts, "chart-deny-vendor", "No denials of hosted or served models."),
        _chart(charts, "chart-clusters", "No clusters."),
        _chart(charts, "chart-kyc", "No denial was caused by an expired verification (KYC)."),
        _chart(
            charts,
            "chart-thresholds",
            "No compute threshold-crossing records in these logs (compute accounting is "
            "off, or its operator log was not included).",
        ),
        "</div>",
        f"<h2>Denials</h2><p class='note'>The {shown} most recent of "
        f'<span data-figure="denials-total">{denied_total}</span> denials'
        f"{'' if shown == denied_total else f' (the CSV has all; the page keeps {DENIAL_ROWS})'}."
        " Click a header to sort.</p>",
        _table("denials", DENIAL_COLUMNS, denials),
        "<h2>Tenants</h2>",
        _capped(len(tenants), "tenants, most denied first"),
        _table("tenants", ("tenant", "decisions", *ACTION_COLOURS), tenants[:TABLE_ROWS]),
        "<h2>Deciding rules of denials</h2>",
        _table("rules", ("rule", "denials"), rules),
        "<h2>Expired verification (KYC) behind denials</h2>",
        _capped(len(kyc), "tenant and verification pairs"),
        _table("kyc", ("tenant", "verification ref", "denials", "first", "last"), kyc[:TABLE_ROWS]),
        "<h2>Compute threshold crossings</h2>",
        _table("thresholds", ("time", "cluster", "type", "tenant", "details"), thresholds),
        "<h2>Other records</h2><p class='note'>Records that are not decisions, by type "
        "(types this version does not know are listed, never dropped).</p>",
        _table("others", ("type", "records"), others),
        f'<script type="application/json" id="chart-data">{_json_script(charts)}</script>',
        f"<script>{SCRIPT}</script></body></html>\n",
    ]
    for part in parts:
        out.write(part)
