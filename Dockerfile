# syntax=docker/dockerfile:1

# Build stage: the runtime dependencies only (requirements/base.lock), in a virtualenv.
FROM python:3.11-slim AS build

ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

RUN python -m venv /opt/venv
COPY requirements/base.lock /tmp/base.lock
RUN /opt/venv/bin/pip install -r /tmp/base.lock


FROM python:3.11-slim

ENV PYTHONUNBUFFERED=1 \
    PYTHONDONTWRITEBYTECODE=1 \
    PATH="/opt/venv/bin:$PATH"

# A fixed numeric uid, so orchestrators can verify runAsNonRoot.
RUN groupadd --system --gid 10001 app \
    && useradd --system --uid 10001 --gid app --no-create-home --home-dir /nonexistent \
        --shell /usr/sbin/nologin app

# Profile pictures: the one folder the service writes (a volume in docker-compose.yml).
ENV MEDIA_DIR=/var/lib/therapyconnect/media
RUN mkdir -p /var/lib/therapyconnect/media && chown -R 10001:10001 /var/lib/therapyconnect

WORKDIR /srv
COPY --from=build /opt/venv /opt/venv
COPY alembic.ini ./
COPY alembic ./alembic
COPY app ./app

# The code stays owned by root: the service cannot rewrite itself.
USER 10001:10001

EXPOSE 8000

# On SIGTERM, uvicorn stops accepting connections and gives requests in flight this many seconds
# to finish (`python -m app serve` uses the same; compose waits 30 s before SIGKILL).
ENV UVICORN_TIMEOUT_GRACEFUL_SHUTDOWN=20

HEALTHCHECK --interval=10s --timeout=5s --start-period=10s --retries=5 \
    CMD ["python", "-c", "import urllib.request,sys; sys.exit(0 if urllib.request.urlopen('http://127.0.0.1:8000/readyz', timeout=3).status == 200 else 1)"]

# The service writes its own access log (JSON when ENVIRONMENT=production): not uvicorn's.
CMD ["uvicorn", "app.main:app", "--host", "0.0.0.0", "--port", "8000", "--http", "app.core.server:BoundedHttpToolsProtocol", "--no-proxy-headers", "--no-access-log"]
