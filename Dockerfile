# finagent daemon image: python:3.12-slim, non-root, settings and database on a volume.
FROM python:3.12-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    FINAGENT_CONFIG=/data/settings.yaml \
    FINAGENT_DB_PATH=/data/finagent.db \
    FINAGENT_METRICS__HOST=0.0.0.0

RUN useradd --create-home --uid 10001 finagent
WORKDIR /app
COPY pyproject.toml README.md ./
COPY finagent ./finagent
COPY actors ./actors
RUN pip install . && mkdir -p /data && chown finagent:finagent /data
COPY --chown=finagent:finagent settings.yaml /data/settings.yaml

USER finagent
VOLUME ["/data"]
# Metrics and health: bound to 0.0.0.0 inside the container only; publish it to loopback.
EXPOSE 9108
CMD ["finagent", "up"]
