"""Delivery: getting a job in front of its member.

- `downloads`: result images fetched from the provider's CDN (capped, streamed), and `shrink`,
  which makes one fit Discord's upload limit in bounded memory.
- `messenger`: the job's Discord message (progress edits, the final message), and `posting`,
  which posts a final message exactly once through Discord's faults.
- `progress`: progress rendering and the bot-wide edit budget.
- `text`: the text of the bot's messages: escaping member text, links, credit lines, file
  names, the result and failure messages.
"""
