"""Thin Discord adapters: parse the interaction, call the core, answer. No SQL, no providers."""
