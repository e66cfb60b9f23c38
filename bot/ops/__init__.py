"""Operations: what keeps the bot checkable and lean in production, apart from its features.

- `doctor`: `python -m bot doctor` checks the Discord token and every provider's key.
- `health`: how each provider has been doing lately (`/providers`).
- `gctune`: garbage-collector tuning once start-up is over.
- `tlsbuffers`: one TLS read buffer per thread, not one per open connection.
- `looplag`: the opt-in event-loop lag and GC pause log (`ARTFACTORY_LOOP_LAG_LOG`).
"""
