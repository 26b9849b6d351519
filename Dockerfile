# finagent daemon image: python:3.11-slim (the interpreter requirements.lock is resolved for),
# non-root, dependencies pinned with hashes. Settings are baked in at /etc/finagent (mount your
# own file over it); /data holds the database only, so `-v "$PWD/data:/data"` hides nothing.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    FINAGENT_CONFIG=/etc/finagent/settings.yaml \
    FINAGENT_DB_PATH=/data/finagent.db \
    FINAGENT_METRICS__HOST=0.0.0.0 \
    FINAGENT_METRICS__PORT=9108

RUN useradd --create-home --uid 10001 finagent
WORKDIR /app
# Dependencies first (their layer survives code changes), exactly as locked, hashes checked.
COPY requirements.lock ./
RUN pip install --no-deps --require-hashes -r requirements.lock
COPY pyproject.toml README.md ./
COPY finagent ./finagent
COPY actors ./actors
# The build backend (setuptools) came from the lock too: no unpinned download here.
RUN pip install --no-deps --no-build-isolation . \
    && mkdir -p /data /etc/finagent && chown finagent:finagent /data
COPY settings.yaml /etc/finagent/settings.yaml

USER finagent
# The database only; a bind mount must be writable by uid 10001 (`chown 10001 data`).
VOLUME ["/data"]
# Metrics and health: bound to 0.0.0.0 inside the container only; publish it to loopback.
EXPOSE 9108
HEALTHCHECK --interval=10s --timeout=3s --start-period=20s --retries=3 \
    CMD ["python", "-c", "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('FINAGENT_METRICS__PORT', '9108'), timeout=2)"]
CMD ["finagent", "up"]
