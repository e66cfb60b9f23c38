FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1

WORKDIR /app
COPY pyproject.toml README.md ./
COPY bot ./bot
COPY cogs ./cogs
COPY db ./db
RUN pip install . \
    && useradd --system --uid 10001 --home-dir /data --shell /usr/sbin/nologin artfactory \
    && mkdir -p /data /config \
    && chown artfactory /data

USER artfactory
VOLUME ["/data"]
# Mount your config at /config/config.toml with [database] path = "/data/artfactory.db",
# and pass DISCORD_TOKEN / FAL_KEY / REPLICATE_API_TOKEN as environment variables.
CMD ["python", "-m", "bot", "--config", "/config/config.toml"]
