"""``FakeDiscord``: the mixins of this package put together."""

from __future__ import annotations

from .callbacks import InteractionCallbacks
from .channels import Channels
from .interactions import InteractionSender
from .server import Server
from .webhooks import Webhooks


class FakeDiscord(Server, InteractionSender, InteractionCallbacks, Webhooks, Channels):
    """A loopback Discord: REST, gateway, interactions, messages, rate limits, fault injection."""
