# The ingestor daemon: `ingestor run` as an unprivileged user, PostgreSQL and Redis clients
# installed (the `postgres` and `redis` extras). Settings come from a mounted
# /etc/ingestor/ingestor.toml and INGESTOR_* variables; see docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /build
COPY pyproject.toml README.md ./
COPY ingestor ./ingestor
RUN pip install ".[postgres,redis]" && rm -rf /build

RUN useradd --system --uid 10001 --user-group --create-home --home-dir /var/lib/ingestor ingestor
USER ingestor
WORKDIR /var/lib/ingestor

ENV INGESTOR_CONFIG=/etc/ingestor/ingestor.toml \
    INGESTOR_LOG_FORMAT=json
# `ingestor serve` (the compose file's web service) listens here.
EXPOSE 8080
STOPSIGNAL SIGTERM
CMD ["ingestor", "run"]
