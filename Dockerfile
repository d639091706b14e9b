# leadq: `docker build -t leadq .` then `docker run leadq run` (a worker), `docker run leadq api` or `docker run leadq alerts --config FILE` (see docker-compose.yml).
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app

# Only what the package needs (the build context may hold a local .venv and caches).
COPY pyproject.toml README.md ./
COPY schemas ./schemas
COPY streams ./streams
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data leadq \
    && mkdir -p /data \
    && chown leadq /data

USER leadq
ENV LEADQ_DATA_DIR=/data
VOLUME ["/data"]

ENTRYPOINT ["leadq"]
CMD ["run"]
