FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

# What `pip install .` needs: pyproject.toml, the README it names, and the three packages
# (their package data, db/migrations/*.sql and bot/providers/schemas/, ships inside them).
WORKDIR /src
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY db ./db
RUN pip install . \
    && rm -rf /src/build /src/*.egg-info \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin artfactory \
    && mkdir -p /data /config \
    && chown artfactory /data

# The bot runs from the installed package, as a non-root user, in /data: a relative
# [database] path lands on the volume too. One volume per process (its intake journal).
USER artfactory
WORKDIR /data
VOLUME ["/data"]
# Mount your config at /config/config.toml with [database] path = "/data/artfactory.db", and
# pass DISCORD_TOKEN / FAL_KEY / REPLICATE_API_TOKEN (and DATABASE_URL) as environment variables.
# Arguments replace the CMD: `docker run ... art-factory db check --config /config/config.toml`.
# Docker asks the bot's own /healthz ([web] listen = "0.0.0.0:8080" in the config): the
# database answering, the gateway connected, the job loop turning (README: "Running it in
# production"). `healthcheck` is a CLI of the bot's, so the image needs no curl.
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=10s --start-period=90s --retries=3 \
    CMD ["python", "-m", "bot", "healthcheck", "--config", "/config/config.toml"]
ENTRYPOINT ["python", "-m", "bot"]
CMD ["--config", "/config/config.toml"]
