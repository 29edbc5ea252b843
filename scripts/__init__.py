"""Developer scripts: `python -m scripts.demo` (the demo), `scripts/gen_proto.py`."""
