"""exportgate benchmarks: `python -m bench` (or `make bench`) measures and writes bench/RESULTS.md.

Every figure is measured against a baseline taken in the same run on the same machine, because
the absolute numbers on a shared 2-core box mean little on their own. See docs/benchmarks.md.
"""
