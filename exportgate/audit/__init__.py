"""Audits over decision logs: one report over many logs, and one decision explained and replayed.

`collect` verifies and counts in one streaming pass (`collect.py`); `page.py` writes the HTML,
`collect.write_csv` / `write_json` the merged rows; `explain.py` and `replay.py` answer for a
single decision. The CLI is `exportgate audit report` / `exportgate audit explain`.
"""
