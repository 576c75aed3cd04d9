# syntax=docker/dockerfile:1
# The gruponos image (issue 19; docs/deployment.md). Build from the repository root:
#   docker build --build-arg VCS_REF="$(git rev-parse --short=12 HEAD)" -t gruponos:0.1.0 .
# One image for every process: `api serve` (the default), `worker`, `scheduler`, and one-shot
# `sync full|incremental` (cron, Kubernetes CronJobs). python-oracledb runs in thin mode: no Oracle
# Instant Client in the image (thick mode: docs/deployment.md). No secret is baked in: every
# credential comes from the environment or a secrets directory at run time.

ARG PYTHON_IMAGE=python:3.11-slim-bookworm

# -- builder: the wheel, from the sources (the commit built goes into it) -----------------------
FROM ${PYTHON_IMAGE} AS builder
WORKDIR /src
RUN python -m pip install --no-cache-dir "build>=1.2,<2"
COPY pyproject.toml README.md hatch_build.py ./
COPY src ./src
ARG VCS_REF=""
RUN SOURCE_COMMIT="${VCS_REF}" python -m build --wheel --outdir /dist

# -- runtime: the wheel and its extras from binary wheels only (no compiler here) --------------
FROM ${PYTHON_IMAGE} AS runtime
# An ARG before the first FROM is not seen inside a stage until declared again.
ARG PYTHON_IMAGE
ARG VERSION=0.1.0
ARG VCS_REF=""
ARG BUILD_DATE=""
# api, workers, scheduler, monitoring; EXTRAS=monitoring gives a smaller sync/CronJob-only image.
ARG EXTRAS=all
LABEL org.opencontainers.image.title="gruponos" \
      org.opencontainers.image.description="Keeps an analytics database (Oracle, PostgreSQL, SQLite) in step with Oracle WMS Cloud." \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${VCS_REF}" \
      org.opencontainers.image.created="${BUILD_DATE}" \
      org.opencontainers.image.licenses="MIT" \
      org.opencontainers.image.url="https://example.invalid/gruponos/docs" \
      org.opencontainers.image.base.name="${PYTHON_IMAGE}"

# tini as PID 1: SIGTERM reaches gruponos (the batch in flight commits, then it stops), zombies
# are reaped. Debian's package, nothing downloaded by hand.
RUN apt-get update \
    && apt-get install -y --no-install-recommends tini \
    && rm -rf /var/lib/apt/lists/*

RUN groupadd --system --gid 10001 gruponos \
    && useradd --system --uid 10001 --gid 10001 --home-dir /var/lib/gruponos \
       --shell /usr/sbin/nologin gruponos \
    && install -d -o 10001 -g 10001 -m 0750 /var/lib/gruponos

COPY --from=builder /dist/ /tmp/dist/
RUN python -m venv /opt/gruponos \
    && /opt/gruponos/bin/pip install --no-cache-dir --only-binary=:all: \
       "gruponos[${EXTRAS}] @ file://$(ls /tmp/dist/gruponos-*.whl)" \
    && rm -rf /tmp/dist

# Writable paths: only /var/lib/gruponos (state file, alert ledger, a SQLite sink) and /tmp; the
# root filesystem can be mounted read-only (Kubernetes: emptyDir or a volume on both).
ENV PATH="/opt/gruponos/bin:${PATH}" \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    GRUPONOS_LOG__FORMAT=json \
    GRUPONOS_SINK__URL=sqlite:////var/lib/gruponos/gruponos.db \
    GRUPONOS_STATE__PATH=/var/lib/gruponos/gruponos-state.json \
    GRUPONOS_ALERTS__STATE_PATH=/var/lib/gruponos/gruponos-alerts.json \
    GRUPONOS_SINK__ORACLE__THICK=false \
    GRUPONOS_API__HOST=0.0.0.0 \
    GRUPONOS_API__PORT=8000 \
    GRUPONOS_SCHEDULE__HEALTH_HOST=0.0.0.0 \
    GRUPONOS_SCHEDULE__HEALTH_PORT=9465
VOLUME ["/var/lib/gruponos", "/tmp"]
WORKDIR /var/lib/gruponos
USER 10001:10001
# 8000: the API (/healthz, /readyz, /metrics); 9464: gruponos metrics serve; 9465: the scheduler.
EXPOSE 8000 9464 9465

HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["python", "-c", "import urllib.request; urllib.request.urlopen('http://127.0.0.1:8000/healthz', timeout=4)"]

ENTRYPOINT ["tini", "-g", "--", "gruponos"]
CMD ["api", "serve"]
