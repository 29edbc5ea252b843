"""bench/b2_ab.py: variant specs, and a small A/B through a real API server."""

from __future__ import annotations

from pathlib import Path

import pytest

from bench import b2_ab


def test_a_spec_sets_environment_arguments_tree_and_tmpfs(tmp_path: Path) -> None:
    v = b2_ab.parse_variant(
        f"h2-shm=arg:--http2;env:EXPORTGATE_EVENT_LOOP=asyncio;tmpfs;pythonpath:{tmp_path}"
    )
    assert v == b2_ab.Variant(
        "h2-shm",
        {"EXPORTGATE_EVENT_LOOP": "asyncio", "PYTHONPATH": str(tmp_path.resolve())},
        ("--http2",),
        True,
    )
    assert b2_ab.parse_variant("base") == b2_ab.Variant("base")


def test_another_tree_runs_with_its_own_webhook_package(tmp_path: Path) -> None:
    # With only the top level on the path, this checkout's editable install would still supply
    # exportgate_webhook, and the variant would run a mix of both trees.
    (tmp_path / "webhook" / "exportgate_webhook").mkdir(parents=True)
    (tmp_path / "sidecar").mkdir()
    entries = b2_ab.tree_path(tmp_path).split(":")
    assert entries == [str(tmp_path.resolve()), str(tmp_path.resolve() / "sidecar"),
                       str(tmp_path.resolve() / "webhook")]  # fmt: skip


@pytest.mark.parametrize("spec", ["=arg:x", "base=arg:", "base=envX=1", "base=fast", "b_a=tmpfs"])
def test_a_spec_it_cannot_read_is_refused_with_what_to_write(spec: str) -> None:
    with pytest.raises(ValueError, match="variant"):
        b2_ab.parse_variant(spec)


def test_cli_refuses_duplicate_or_reserved_names(capsys: pytest.CaptureFixture[str]) -> None:
    for argv in (["--variant", "a", "--variant", "a"], ["--variant", "none"]):
        with pytest.raises(SystemExit) as exc:
            b2_ab.main(argv)
        assert exc.value.code == 2
    assert "variant names must differ" in capsys.readouterr().err


@pytest.mark.cluster
def test_two_variants_side_by_side_through_a_real_api_server(
    kube_binaries: dict[str, Path], tmp_path: Path
) -> None:
    variants = [b2_ab.Variant("base"), b2_ab.parse_variant("shm=tmpfs")]
    results = b2_ab.run(tmp_path, variants, clients=[2], creates=6, warmup=1)
    [point] = results["points"]
    assert {n: r["failures"] for n, r in point["rows"].items()} == {"base": 0, "shm": 0, "none": 0}
    assert {n: r["creates"] for n, r in point["rows"].items()} == {"base": 6, "shm": 6, "none": 6}
    assert [r["variant"] for r in point["against_first"]] == ["shm", "none"]
    assert "shm - base: p50" in b2_ab.render_point(point, ["base", "shm", "none"])
