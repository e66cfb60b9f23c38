"""Art Factory: collaborative image generation for Discord communities."""

from __future__ import annotations

__version__ = "0.1.0"
