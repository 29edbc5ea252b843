"""Regenerate the Python gRPC stubs from proto/ into exportgate/v1/.

`--check` regenerates into a temporary directory and fails if the committed stubs differ, so CI
catches a proto change that was not followed by `make proto`.
"""

from __future__ import annotations

import argparse
import filecmp
import shutil
import sys
import tempfile
from pathlib import Path

from grpc_tools import protoc

ROOT = Path(__file__).resolve().parent.parent
PROTO_ROOT = ROOT / "proto"
PROTOS = sorted(PROTO_ROOT.rglob("*.proto"))
GENERATED = ROOT / "exportgate" / "v1"


def generate(out: Path) -> None:
    include = Path(protoc.__file__).parent / "_proto"
    args = [
        "protoc",
        f"-I{PROTO_ROOT}",
        f"-I{include}",
        f"--python_out={out}",
        f"--pyi_out={out}",
        f"--grpc_python_out={out}",
        *[str(p) for p in PROTOS],
    ]
    if protoc.main(args) != 0:
        sys.exit("protoc failed: see the message above")
    (out / "exportgate" / "v1" / "__init__.py").write_text(
        '"""Generated from proto/exportgate/v1 by scripts/gen_proto.py. Do not edit."""\n'
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--check", action="store_true", help="fail if the stubs are stale")
    opts = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        generate(Path(tmp))
        fresh = Path(tmp) / "exportgate" / "v1"
        if opts.check:
            names = sorted(p.name for p in fresh.iterdir() if p.is_file())
            _, mismatch, errors = filecmp.cmpfiles(fresh, GENERATED, names, shallow=False)
            if mismatch or errors:
                print(f"generated stubs are stale: {mismatch + errors}; run `make proto`")
                return 1
            print("proto stubs up to date")
            return 0
        GENERATED.mkdir(parents=True, exist_ok=True)
        for item in fresh.iterdir():
            if item.is_file():
                shutil.copy2(item, GENERATED / item.name)
        print(f"wrote stubs to {GENERATED.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
