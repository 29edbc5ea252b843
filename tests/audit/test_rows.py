"""A decision row as CSV: `csv_line` writes exactly what the standard csv writer writes."""

from __future__ import annotations

import csv
import io

from hypothesis import given
from hypothesis import strategies as st

from exportgate.audit.rows import COLUMNS, csv_line, decision_row


def _reference(row: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerow(row)
    return out.getvalue()


# Texts a record can hold after `decision_row` (no line breaks), weighted towards CSV's
# special characters.
_TEXT = st.text(alphabet=st.sampled_from([*"ab ,\";'\\", "é", "\x1f", "\t"]), max_size=8)


@given(st.lists(_TEXT, min_size=len(COLUMNS), max_size=len(COLUMNS)))
def test_csv_line_is_what_the_csv_writer_writes(row: list[str]) -> None:
    assert csv_line(row) == _reference(row)


def test_a_row_with_commas_quotes_and_line_breaks_round_trips() -> None:
    record = {
        "time": "2026-07-01T12:00:00.000Z",
        "id": "d-1",
        "action": "deny",
        "tenant": 'acme, "the" tenant',
        "citation": "15 CFR 744.23(a)(3), 88 FR 73458",
        "message": 'first line\nsecond, "quoted" line',
        "accelerators": [{"products": ["h100", "h100"], "classifications": None}, "junk"],
        "models": [{"reference": "x/y", "provider": None}],
        "jurisdictions": [{"country": "CN"}, {"country": "HK"}],
    }
    row = decision_row(record, "logs/a.jsonl", 7)
    line = csv_line(row)
    assert line == _reference(row) and line.count("\n") == 1
    [parsed] = csv.reader(io.StringIO(line))
    assert dict(zip(COLUMNS, parsed, strict=True)) == {
        **dict.fromkeys(COLUMNS, ""),
        "time": "2026-07-01T12:00:00.000Z",
        "id": "d-1",
        "cluster": "unknown",
        "action": "deny",
        "tenant": 'acme, "the" tenant',
        "citation": "15 CFR 744.23(a)(3), 88 FR 73458",
        "countries": "CN;HK",
        "products": "h100",
        "acceleratorClasses": "unclassified",
        "models": "x/y",
        "modelVendors": "unknown",
        "replayable": "no",
        "file": "logs/a.jsonl",
        "line": "7",
        "message": 'first line second, "quoted" line',
    }
