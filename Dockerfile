# One image for every role: `faust -A app worker` reads RENDEZVOUS_* settings (app/settings.py),
# RENDEZVOUS_ROLE picks serving or a model pool. See docker-compose.yml.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PIP_ROOT_USER_ACTION=ignore

# The runtime packages, plus the demo's stream generator and producer (demo, harness,
# localkafka) for the compose demo-producer service; tests and bench stay out.
WORKDIR /src
COPY pyproject.toml ./
COPY app/ app/
COPY agents/ agents/
COPY tables/ tables/
COPY schemas/ schemas/
COPY learning/ learning/
COPY demo/ demo/
COPY harness/ harness/
COPY localkafka/ localkafka/
RUN pip install . \
    && rm -rf /src \
    && useradd --create-home --uid 10001 rendezvous \
    && mkdir -p /var/lib/rendezvous \
    && chown rendezvous /var/lib/rendezvous

# The working directory holds the worker's local data (RENDEZVOUS_DATA_DIR, var/data by default)
# and no source, so `-A app` imports the installed package.
WORKDIR /var/lib/rendezvous
USER rendezvous

EXPOSE 6066
CMD ["faust", "-A", "app", "worker", "-l", "info"]
