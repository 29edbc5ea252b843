"""Compute accounting: who uses how much controlled compute, and when to tell someone.

`pods` (what a Pod uses), `owners` (which run it belongs to), `accountant` (one pass:
collect/decide/write), `records` (the ComputeRun CRD), `alerts` and `metrics` (what a crossing
or a usage jump produces), `service` (the checkpoint loop) and `handlers` (kopf wiring). The
arithmetic and the thresholds are the core's (`exportgate.core.compute`, `compute_policy`).
See docs/compute-accounting.md.
"""
