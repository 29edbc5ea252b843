# syntax=docker/dockerfile:1
# One image for all exportgate components: exportgate-webhook, exportgate-sidecar,
# exportgate-operator and the exportgate CLI (the Helm chart picks one per container).
#
#   docker build -t exportgate:dev .
#
# Two stages: the first builds a virtualenv with the package and its dependencies; the second
# copies only that virtualenv onto the same slim Python, without pip, compilers or sources,
# and runs as an unprivileged user. The base is pinned to an exact patch release (override
# PYTHON_IMAGE with an @sha256 digest to pin the bytes as well).
ARG PYTHON_IMAGE=python:3.11.14-slim-bookworm

FROM ${PYTHON_IMAGE} AS build
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
RUN python -m venv /opt/exportgate
WORKDIR /src
# Sources only (see .dockerignore): tests, docs and the chart never enter the image.
COPY pyproject.toml README.md ./
COPY exportgate ./exportgate
COPY sidecar ./sidecar
COPY webhook ./webhook
COPY operator ./operator
# Not editable: the virtualenv must not point back into /src, which the final stage lacks.
RUN /opt/exportgate/bin/pip install --no-compile . \
 && /opt/exportgate/bin/pip uninstall --yes pip \
 # The root filesystem is read-only at run time: compile bytecode now, once.
 && python -m compileall -q -j 0 /opt/exportgate

FROM ${PYTHON_IMAGE}
LABEL org.opencontainers.image.title="exportgate" \
      org.opencontainers.image.description="Export-control admission for multi-tenant GPU platforms" \
      org.opencontainers.image.source="https://github.com/exportgate/exportgate"
# UID/GID 10001 match the chart's securityContext (runAsUser/runAsGroup).
RUN groupadd --system --gid 10001 exportgate \
 && useradd --system --uid 10001 --gid 10001 --no-create-home --home-dir /nonexistent \
      --shell /usr/sbin/nologin exportgate
COPY --from=build /opt/exportgate /opt/exportgate
ENV PATH=/opt/exportgate/bin:$PATH \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1
USER 10001:10001
CMD ["exportgate", "--help"]
