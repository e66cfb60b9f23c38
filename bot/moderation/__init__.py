"""Moderation: the server's rules, and the gate every job passes before anything is charged.

- `gate`: admission (bans, channel rules, prompt filters, quota tiers, budgets).
- `lookalikes`: disguised words (invisible characters, look-alike letters) for the filters.
- `netguard`: links members give (LoRAs, images) must lead to public servers.
- `preferences`: the server's default provider for a job.
- `admin`: what `/admin` does, and the server's usage numbers.
- `audit`: the batched audit channel.
"""
