"""The gateway websocket: HELLO, heartbeats, IDENTIFY (READY + GUILD_CREATE), RESUME of the fake's
own sessions, op 9 INVALID_SESSION, member chunks and dispatches; plus ``GET /gateway`` and
``GET /gateway/bot``, through which an ``AutoShardedClient`` finds the websocket.

The client asks for ``compress=zlib-stream`` but parses text frames as plain JSON, so nothing is
compressed. ``AutoShardedClient`` re-identifies at ``DiscordWebSocket.DEFAULT_GATEWAY`` (the real
Discord) when a session cannot be resumed (the bot pins it, ``bot/gateway.py``), so the fake
accepts RESUME of its own sessions unless a test ends one (``invalidate_session``,
``disconnect_gateway(resumable=False)``).
"""

from __future__ import annotations

import asyncio
import json
import secrets
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass
from typing import Any

from aiohttp import WSMsgType, web

from .constants import Opcode
from .entities import Entities
from .records import RecordedRequest
from .responses import Reply


@dataclass
class Session:
    session_id: str
    shard: list[int] | None
    seq: int = 0


@dataclass(eq=False)
class GatewayConn:
    ws: web.WebSocketResponse
    session: Session | None = None


class Gateway(Entities):
    """One websocket server for every connection; ``_current`` receives the dispatches."""

    async def dispatch(self, event: str, d: dict[str, Any], *, wait: float = 10.0) -> None:
        """Send a DISPATCH (op 0) to the current identified/resumed connection.

        Waits up to ``wait`` seconds for one (e.g. while the client resumes).
        """
        conn = await self._ready_conn(wait)
        await self._gw_send(conn, Opcode.DISPATCH, d, event)

    async def disconnect_gateway(self, code: int = 4000, *, resumable: bool = True) -> None:
        """Close the current gateway connection; the client reconnects and RESUMEs.

        With ``resumable=False`` the session is forgotten first, so the RESUME is answered with
        op 9 INVALID_SESSION (``d: false``) and the client has to IDENTIFY anew.
        """
        conn = self._current
        self._current = None
        self._gateway_ready.clear()
        if conn is not None:
            if not resumable and conn.session is not None:
                self._sessions.pop(conn.session.session_id, None)
            await conn.ws.close(code=code, message=b"fake disconnect")

    async def invalidate_session(self, *, resumable: bool = False) -> None:
        """Send op 9 INVALID_SESSION to the current connection, as Discord does.

        ``d`` is ``resumable``: when false the session is forgotten (a RESUME of it gets op 9
        again), so the client has to open a new connection and IDENTIFY. The fake leaves closing
        the socket to the client; dispatches wait for the next READY or RESUMED.
        """
        conn = await self._ready_conn(10.0)
        self._current = None
        self._gateway_ready.clear()
        if not resumable and conn.session is not None:
            self._sessions.pop(conn.session.session_id, None)
        await self._gw_send(conn, Opcode.INVALID_SESSION, resumable)

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        ws = web.WebSocketResponse(compress=False, max_msg_size=0, timeout=2.0)
        await ws.prepare(request)
        conn = GatewayConn(ws)
        self._conns.add(conn)
        try:
            hello = {"heartbeat_interval": 41250, "_trace": ["fake"]}
            await self._gw_send(conn, Opcode.HELLO, hello)
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_message(conn, json.loads(msg.data))
        except ConnectionError:
            pass
        finally:
            self._conns.discard(conn)
            if self._current is conn:
                self._current = None
                self._gateway_ready.clear()
        return ws

    async def _gw_send(self, conn: GatewayConn, op: int, d: Any, t: str | None = None) -> None:
        seq = None
        if op == Opcode.DISPATCH and conn.session is not None:
            conn.session.seq += 1
            seq = conn.session.seq
        await conn.ws.send_str(json.dumps({"op": op, "d": d, "s": seq, "t": t}))

    async def _on_gateway_message(self, conn: GatewayConn, msg: dict[str, Any]) -> None:
        op, d = msg.get("op"), msg.get("d")
        # a dict look-up compares like `==`, and unhashable types are no opcode
        handler = _OP_HANDLERS.get(op) if isinstance(op, Hashable) else None
        if handler is not None:
            await handler(self, conn, d)
        # op 3 presence, op 4 voice state and anything else: accepted silently

    async def _on_heartbeat(self, conn: GatewayConn, d: Any) -> None:
        await self._gw_send(conn, Opcode.HEARTBEAT_ACK, None)

    async def _on_identify(self, conn: GatewayConn, d: Any) -> None:
        self.identify_payloads.append(d)
        session = Session(session_id=secrets.token_hex(16), shard=d.get("shard"))
        self._sessions[session.session_id] = session
        conn.session = session
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user_json(),
            "guilds": [{"id": str(self.guild_id), "unavailable": True}],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "application": {"id": str(self.app_id), "flags": 0},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "guild_join_requests": [],
            "geo_ordered_rtc_regions": [],
            "user_settings": {},
            "_trace": ["fake"],
        }
        if session.shard is not None:
            ready["shard"] = session.shard
        await self._gw_send(conn, Opcode.DISPATCH, ready, "READY")
        await self._gw_send(conn, Opcode.DISPATCH, self.guild_json(), "GUILD_CREATE")
        self._current = conn
        self._gateway_ready.set()
        self.identified.set()

    async def _on_resume(self, conn: GatewayConn, d: Any) -> None:
        session = self._sessions.get((d or {}).get("session_id", ""))
        if session is None:
            self.failed_resumes += 1
            await self._gw_send(conn, Opcode.INVALID_SESSION, False)
            return
        conn.session = session
        self.resume_count += 1
        await self._gw_send(conn, Opcode.DISPATCH, {"_trace": ["fake"]}, "RESUMED")
        self._current = conn
        self._gateway_ready.set()

    async def _on_request_guild_members(self, conn: GatewayConn, d: Any) -> None:
        chunk = {
            "guild_id": str(self.guild_id),
            "members": [self.member_json(self.bot_user_id)],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if isinstance(d, dict) and d.get("nonce") is not None:
            chunk["nonce"] = d["nonce"]
        await self._gw_send(conn, Opcode.DISPATCH, chunk, "GUILD_MEMBERS_CHUNK")

    async def _ready_conn(self, wait: float) -> GatewayConn:
        deadline = time.monotonic() + wait
        while self._current is None or self._current.ws.closed:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no identified gateway connection")
            self._gateway_ready.clear()
            try:
                await asyncio.wait_for(self._gateway_ready.wait(), remaining)
            except TimeoutError:
                raise TimeoutError("no identified gateway connection") from None
        return self._current

    async def _h_gateway(self, rec: RecordedRequest) -> Reply:
        return Reply(200, {"url": self.gateway_url})

    async def _h_gateway_bot(self, rec: RecordedRequest) -> Reply:
        return Reply(
            200,
            {
                "url": self.gateway_url,
                "shards": 1,
                "session_start_limit": {
                    "total": 1000,
                    "remaining": 1000,
                    "reset_after": 0,
                    "max_concurrency": 1,
                },
            },
        )


_OpHandler = Callable[[Gateway, GatewayConn, Any], Awaitable[None]]
_OP_HANDLERS: dict[Any, _OpHandler] = {
    Opcode.HEARTBEAT: Gateway._on_heartbeat,
    Opcode.IDENTIFY: Gateway._on_identify,
    Opcode.RESUME: Gateway._on_resume,
    Opcode.REQUEST_GUILD_MEMBERS: Gateway._on_request_guild_members,
}
