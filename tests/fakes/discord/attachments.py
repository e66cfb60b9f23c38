"""Attachments: files uploaded with a request (``files[n]`` parts and the ``attachments`` list of
the JSON), user uploads made by tests (``make_attachment``) and their JSON.

discord.py sends every file part as ``application/octet-stream``; like Discord the fake derives
an attachment's ``content_type`` from its filename (and its width and height from the image).
"""

from __future__ import annotations

import io
import mimetypes
import re
from typing import Any

from .cdn import CDN
from .constants import MAX_ATTACHMENTS, ErrorCode
from .records import FakeMessage, RecordedFile, RecordedRequest
from .responses import ApiError, form_error


def _image_size(data: bytes) -> tuple[int, int] | None:
    try:
        from PIL import Image
    except ImportError:
        return None
    try:
        with Image.open(io.BytesIO(data)) as image:
            return image.size
    except (OSError, ValueError, Image.DecompressionBombError):
        return None


class Attachments(CDN):
    """Attachment objects of messages and uploads."""

    def make_attachment(
        self, filename: str, data: bytes, content_type: str | None = None
    ) -> dict[str, Any]:
        """Store user-uploaded bytes and return a Discord attachment object serving them.

        Use it as an attachment option's ``value`` in ``send_interaction`` (it is moved into
        ``data.resolved.attachments``), or in raw payloads.
        """
        att = self._new_attachment("upload", filename, data, content_type)
        self._uploads[att.id] = att
        holder = FakeMessage(id=att.id, channel_id=self.channel_id)
        return self._attachment_json(holder, att)

    def _attachment_url(self, msg: FakeMessage, att: RecordedFile) -> str:
        """The attachment's unsigned URL (what ``FakeMessage.embeds`` keeps)."""
        return f"{self.base_url}/attachments/{msg.id}/{att.filename}"

    def _attachment_json(self, msg: FakeMessage, att: RecordedFile) -> dict[str, Any]:
        url = self.signed_url(self._attachment_url(msg, att))
        out: dict[str, Any] = {
            "id": str(att.id),
            "filename": att.filename,
            "size": len(att.data),
            "url": url,
            "proxy_url": url,
            "content_type": att.content_type,
            "flags": 0,
        }
        if att.width is not None:
            out["width"], out["height"] = att.width, att.height
        if att.description is not None:
            out["description"] = att.description
        if msg.ephemeral:
            out["ephemeral"] = True
        return out

    def _new_attachment(
        self, field_name: str, filename: str, data: bytes, content_type: str | None = None
    ) -> RecordedFile:
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        att = RecordedFile(field_name, filename, ctype, data, id=self._snowflake())
        if ctype.startswith("image/"):
            size = _image_size(data)
            if size is not None:
                att.width, att.height = size
        return att

    def _check_uploads(self, files: list[RecordedFile], limit: int) -> None:
        if len(files) > MAX_ATTACHMENTS:
            raise form_error(["files"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length.")
        for f in files:
            if len(f.data) > limit:
                raise ApiError(413, ErrorCode.ENTITY_TOO_LARGE, "Request entity too large")

    def _resolve_attachments(
        self,
        rec: RecordedRequest,
        body: dict[str, Any],
        current: list[RecordedFile],
        limit: int,
    ) -> list[RecordedFile] | None:
        """New attachment list, or None when the request leaves attachments unchanged."""
        self._check_uploads(rec.files, limit)
        uploads: dict[int, RecordedFile] = {}
        for pos, f in enumerate(rec.files):
            m = re.fullmatch(r"files\[(\d+)\]", f.field_name)
            uploads[int(m.group(1)) if m else pos] = f
        listed = body.get("attachments")
        if listed is None:
            if not uploads:
                return None
            return current + [
                self._new_attachment(f.field_name, f.filename, f.data) for f in uploads.values()
            ]
        result: list[RecordedFile] = []
        used: set[int] = set()
        by_id = {a.id: a for a in current}
        for index, entry in enumerate(listed):
            try:
                aid = int(entry["id"])
            except (KeyError, TypeError, ValueError):
                raise form_error(
                    ["attachments", index, "id"], "BASE_TYPE_REQUIRED", "Invalid attachment id"
                ) from None
            if aid in by_id:
                kept = by_id[aid]
                if entry.get("description") is not None:
                    kept.description = entry["description"]
                result.append(kept)
            elif aid in uploads:
                f = uploads[aid]
                name = entry.get("filename") or f.filename
                att = self._new_attachment(f.field_name, name, f.data)
                att.description = entry.get("description")
                result.append(att)
                used.add(aid)
            else:
                raise form_error(
                    ["attachments", index, "id"],
                    "ATTACHMENT_NOT_FOUND",
                    f"Unknown attachment id {aid}",
                )
        for key, f in uploads.items():
            if key not in used:
                result.append(self._new_attachment(f.field_name, f.filename, f.data))
        if len(result) > MAX_ATTACHMENTS:
            raise form_error(
                ["attachments"], "BASE_TYPE_MAX_LENGTH", "Must be 10 or fewer in length."
            )
        return result
