"""Loaded at start-up by any Python with this directory on its PYTHONPATH: traces the review
stages of an exportgate webhook when EXPORTGATE_STAGE_TRACE names a file (bench/stagetrace)."""

import os
import sys

if os.environ.get("EXPORTGATE_STAGE_TRACE"):
    # The repository root, so that `bench` imports whatever the working directory is.
    sys.path.append(os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))))
    from bench.stagetrace import install_from_environment

    install_from_environment()
