"""The bot's small web server: health and metrics for operators, provider webhooks, and (later)
the gallery. aiohttp's own `web`, in the bot's process and loop; off unless `[web] listen`."""
