"""The Dockerfile the chart's image comes from: pinned, multi-stage, non-root, matching the chart.

No container daemon is assumed in CI, so these read the files; building the same file set with
pip (what the build stage does) is exercised by the install in `make setup`.
"""

from __future__ import annotations

import re

import yaml

from tests.charts.chart import CHART, ROOT

DOCKERFILE = (ROOT / "Dockerfile").read_text()


def _base_images() -> list[str]:
    default = re.search(r"^ARG PYTHON_IMAGE=(\S+)$", DOCKERFILE, re.MULTILINE)
    assert default, "the base image is a build argument with a pinned default"
    return [default.group(1)]


def test_base_is_python_311_slim_pinned_to_a_patch_release() -> None:
    for image in _base_images():
        assert re.fullmatch(r"python:3\.11\.\d+-slim(-\w+)?(@sha256:[0-9a-f]{64})?", image), image
    assert ":latest" not in DOCKERFILE


def test_two_stages_and_only_the_virtualenv_is_carried_over() -> None:
    stages = re.findall(r"^FROM ", DOCKERFILE, re.MULTILINE)
    assert len(stages) == 2
    final = DOCKERFILE.split("\nFROM ")[-1]
    copies = re.findall(r"^COPY .*$", final, re.MULTILINE)
    assert copies == ["COPY --from=build /opt/exportgate /opt/exportgate"]
    assert "pip uninstall --yes pip" in DOCKERFILE


def test_runs_as_the_non_root_user_the_chart_expects() -> None:
    values = yaml.safe_load((CHART / "values.yaml").read_text())["securityContext"]
    user = re.findall(r"^USER (\d+):(\d+)$", DOCKERFILE, re.MULTILINE)
    assert user == [(str(values["runAsUser"]), str(values["runAsGroup"]))]
    assert int(user[0][0]) != 0


def test_build_context_excludes_everything_but_sources() -> None:
    ignore = (ROOT / ".dockerignore").read_text().splitlines()
    assert ignore[ignore.index("*")] == "*"  # deny by default
    allowed = {line[1:] for line in ignore if line.startswith("!")}
    assert allowed == {
        "pyproject.toml",
        "README.md",
        "exportgate/",
        "sidecar/",
        "webhook/",
        "operator/exportgate_operator/",
    }
