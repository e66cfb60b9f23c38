"""Attachment URLs signed like Discord's CDN URLs, and the attachment bytes served under them.

A URL is ``{base_url}/attachments/{mid}/{filename}?ex=<hex expiry>&is=<hex issued>&hm=<hex
hmac>&``, valid for 24 hours of the fake's clock (``clock_offset``); an expired or badly signed URL
gets 404 "This content is no longer available.". ``attachment_redirects`` makes chosen paths
answer with a 302 (a CDN that redirects, for the bot's redirect checks).
"""

from __future__ import annotations

import copy
import hashlib
import hmac
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web

from .constants import ATTACHMENT_URL_LIFETIME, EXPIRED_CONTENT
from .records import RecordedFile
from .state import FakeState


class CDN(FakeState):
    """Signing, checking and serving attachment URLs."""

    def signed_url(self, url: str) -> str:
        """An attachment URL of this fake (signed or not) signed afresh: what Discord would hand
        out for it now."""
        return self._sign(urlsplit(url).path)

    @staticmethod
    def unsigned(url: str) -> str:
        """``url`` without its query (the signature): stable across re-signing."""
        return urlsplit(url)._replace(query="", fragment="").geturl()

    def _sign(self, path: str) -> str:
        issued = int(self._now().timestamp())
        query = f"ex={issued + ATTACHMENT_URL_LIFETIME:x}&is={issued:x}"
        return f"{self.base_url}{path}?{query}&hm={self._signature(path, query)}&"

    def _signature(self, path: str, query: str) -> str:
        return hmac.new(self._url_key, f"{path}?{query}".encode(), hashlib.sha256).hexdigest()

    def _signature_valid(self, path: str, query: Any) -> bool:
        """The ``ex``/``is``/``hm`` parameters sign ``path`` and have not expired."""
        ex, issued, hm = query.get("ex"), query.get("is"), query.get("hm")
        if not (ex and issued and hm):
            return False
        try:
            expires = int(ex, 16)
            int(issued, 16)
        except ValueError:
            return False
        expected = self._signature(path, f"ex={ex}&is={issued}")
        return hmac.compare_digest(expected, hm) and self._now().timestamp() < expires

    def _refresh_resolved(self, d: dict[str, Any]) -> None:
        """Re-sign this fake's attachment URLs in an interaction's resolved data, as Discord
        signs every payload it delivers."""
        if not isinstance(d.get("data"), dict) or not d["data"].get("resolved"):
            return
        d["data"] = copy.deepcopy(d["data"])  # the caller's payload stays as it was
        resolved = d["data"]["resolved"]
        attachments = list((resolved.get("attachments") or {}).values())
        for message in (resolved.get("messages") or {}).values():
            attachments += message.get("attachments") or []
        for att in attachments:
            for key in ("url", "proxy_url"):
                url = att.get(key)
                if isinstance(url, str) and url.startswith(f"{self.base_url}/attachments/"):
                    att[key] = self.signed_url(url)

    async def _handle_attachment(self, request: web.Request) -> web.StreamResponse:
        mid, name = request.match_info["mid"], request.match_info["filename"]
        location = self.attachment_redirects.get(request.path)
        if location is not None:
            self.attachment_redirect_hits.append(request.path)
            return web.Response(status=302, headers={"Location": location})
        candidates: list[RecordedFile] = []
        if mid.isdigit():
            msg = self.messages.get(int(mid))
            if msg is not None:
                candidates = msg.attachments + msg.previous_attachments
            if int(mid) in self._uploads:
                candidates.append(self._uploads[int(mid)])
        for att in candidates:
            if att.filename == name:
                if not self._signature_valid(f"/attachments/{mid}/{name}", request.query):
                    return web.Response(status=404, text=EXPIRED_CONTENT)
                return web.Response(body=att.data, content_type=att.content_type)
        return web.Response(status=404, text="404: Not Found")
