"""The gateway websocket: HELLO, heartbeats, IDENTIFY (READY + GUILD_CREATE), RESUME of the fake's
own sessions, op 9 INVALID_SESSION, member chunks and dispatches; plus ``GET /gateway`` and
``GET /gateway/bot``, through which an ``AutoShardedClient`` finds the websocket and its shard
count.

Shards as Discord documents them (docs/events/gateway.mdx, "Sharding"): IDENTIFY's ``shard [i,
n]`` must have ``0 <= i < n`` (else close 4010 Invalid shard), and a session with fewer shards
than ``shard_count`` would hold too many guilds (close 4011 Sharding required; no ``shard`` is
``[0, 1]``). ``n`` only routes traffic: a guild's events go to every live session whose ``i`` is
``(guild_id >> 22) % n`` (its own ``n``), events without a guild to shard 0, and several
sessions may hold the same shard (each gets its events). READY lists, and GUILD_CREATE
announces, only the session's own guilds. IDENTIFY is paced by ``max_concurrency`` buckets and
limited by the session start budget as Discord does it (``identify.py``).

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
from .identify import IdentifyLimits
from .records import RecordedRequest
from .responses import Reply


@dataclass
class Session:
    session_id: str
    shard: list[int] | None
    seq: int = 0

    @property
    def shard_id(self) -> int:
        return self.shard[0] if self.shard else 0

    def receives(self, guild_id: int | None) -> bool:
        """Whether Discord routes an event of this guild (None: no guild) to this session."""
        if guild_id is None:
            return self.shard_id == 0
        return (guild_id >> 22) % (self.shard[1] if self.shard else 1) == self.shard_id


@dataclass
class Dispatched:
    """A DISPATCH the fake sent: the event, its ``d`` and the shard of the session it went to."""

    event: str
    data: Any
    shard: list[int]  # [0, 1] for an unsharded session
    session_id: str


@dataclass(eq=False)
class GatewayConn:
    ws: web.WebSocketResponse
    session: Session | None = None


class Gateway(Entities, IdentifyLimits):
    """One websocket server for every connection; the live sessions receive the dispatches."""

    async def dispatch(
        self, event: str, d: dict[str, Any], *, wait: float = 10.0, shard: int | None = None
    ) -> None:
        """Send a DISPATCH (op 0) to the live sessions Discord would route it to: those of
        ``shard`` if given, else of the shard of ``d["guild_id"]`` (no guild: shard 0).

        Waits up to ``wait`` seconds for one (e.g. while the client resumes).
        """
        if shard is not None:
            conns = await self._live_conns(lambda s: s.shard_id == shard, wait)
        else:
            guild = d.get("guild_id")
            guild_id = int(guild) if guild is not None else None
            conns = await self._live_conns(lambda s: s.receives(guild_id), wait)
        for conn in conns:
            await self._gw_send(conn, Opcode.DISPATCH, d, event)

    def live_shards(self) -> list[list[int]]:
        """``[i, n]`` of every identified or resumed session still connected."""
        return [_shard_of(c.session) for c in self._live if c.session and not c.ws.closed]

    async def disconnect_gateway(
        self, code: int = 4000, *, resumable: bool = True, shard: int = 0
    ) -> None:
        """Close the latest connection of ``shard``; the client reconnects and RESUMEs.

        With ``resumable=False`` the session is forgotten first, so the RESUME is answered with
        op 9 INVALID_SESSION (``d: false``) and the client has to IDENTIFY anew.
        """
        conn = next((c for c in reversed(self._live) if _on_shard(c, shard)), None)
        if conn is not None:
            self._live.remove(conn)
            if not resumable and conn.session is not None:
                self._sessions.pop(conn.session.session_id, None)
            await conn.ws.close(code=code, message=b"fake disconnect")

    async def invalidate_session(self, *, resumable: bool = False, shard: int = 0) -> None:
        """Send op 9 INVALID_SESSION to the latest connection of ``shard``, as Discord does.

        ``d`` is ``resumable``: when false the session is forgotten (a RESUME of it gets op 9
        again), so the client has to open a new connection and IDENTIFY. The fake leaves closing
        the socket to the client; dispatches wait for the next READY or RESUMED.
        """
        conn = (await self._live_conns(lambda s: s.shard_id == shard, 10.0))[-1]
        self._live.remove(conn)
        if not resumable and conn.session is not None:
            self._sessions.pop(conn.session.session_id, None)
        await self._gw_send(conn, Opcode.INVALID_SESSION, resumable)

    async def _handle_gateway(self, request: web.Request) -> web.StreamResponse:
        if self.gateway_down:  # Discord's gateway unreachable: clients back off and retry
            return web.Response(status=503, text="gateway down")
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
            if conn in self._live:
                self._live.remove(conn)
        return ws

    async def _gw_send(self, conn: GatewayConn, op: int, d: Any, t: str | None = None) -> None:
        seq = None
        if op == Opcode.DISPATCH and conn.session is not None:
            conn.session.seq += 1
            seq = conn.session.seq
            shard = _shard_of(conn.session)
            self.dispatches.append(Dispatched(t or "", d, shard, conn.session.session_id))
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
        self.identify_times.append(time.monotonic())
        shard = d.get("shard")
        refused = self._shard_refusal(shard)
        if refused is None and self._identify_too_soon(shard[0] if shard else 0):
            self.rate_limited_identifies.append(list(shard or [0, 1]))
            await self._gw_send(conn, Opcode.INVALID_SESSION, False)  # Discord's answer
            return
        if refused is None and not self._take_session_start():
            refused = 4004, b"Authentication failed."  # the token was reset (identify.py)
        if refused is not None:
            self.gateway_closes.append(refused[0])
            await conn.ws.close(code=refused[0], message=refused[1])
            return
        session = Session(session_id=secrets.token_hex(16), shard=d.get("shard"))
        self._sessions[session.session_id] = session
        conn.session = session
        guilds = [g for g in self.guild_channels if session.receives(g)]
        ready: dict[str, Any] = {
            "v": 10,
            "user": self.bot_user_json(),
            "guilds": [{"id": str(g), "unavailable": True} for g in guilds],
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
        for guild in guilds:
            await self._gw_send(conn, Opcode.DISPATCH, self.guild_json(guild), "GUILD_CREATE")
        self._go_live(conn)
        self.identified.set()

    def _shard_refusal(self, shard: Any) -> tuple[int, bytes] | None:
        """The close code and reason Discord ends an IDENTIFY with ``shard`` with, if any."""
        if shard is None:
            shard = [0, 1]
        valid = isinstance(shard, list) and len(shard) == 2
        if not valid or not all(type(x) is int for x in shard) or not 0 <= shard[0] < shard[1]:
            return 4010, b"Invalid shard."
        if shard[1] < self.shard_count:
            return 4011, b"Sharding required."
        return None

    def _go_live(self, conn: GatewayConn) -> None:
        if conn in self._live:
            self._live.remove(conn)
        self._live.append(conn)
        self._gateway_ready.set()

    async def _on_resume(self, conn: GatewayConn, d: Any) -> None:
        session = self._sessions.get((d or {}).get("session_id", ""))
        if session is None:
            self.failed_resumes += 1
            await self._gw_send(conn, Opcode.INVALID_SESSION, False)
            return
        conn.session = session
        self.resume_count += 1
        await self._gw_send(conn, Opcode.DISPATCH, {"_trace": ["fake"]}, "RESUMED")
        self._go_live(conn)

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

    async def _live_conns(
        self, receives: Callable[[Session], bool], wait: float
    ) -> list[GatewayConn]:
        """The live connections whose session ``receives``, oldest first; waits for one."""
        deadline = time.monotonic() + wait
        while True:
            conns = [c for c in self._live if c.session and receives(c.session) and not c.ws.closed]
            if conns:
                return conns
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("no identified gateway connection for this event")
            self._gateway_ready.clear()
            try:
                await asyncio.wait_for(self._gateway_ready.wait(), remaining)
            except TimeoutError:
                raise TimeoutError("no identified gateway connection for this event") from None

    async def _h_gateway(self, rec: RecordedRequest) -> Reply:
        return Reply(200, {"url": self.gateway_url})

    async def _h_gateway_bot(self, rec: RecordedRequest) -> Reply:
        return Reply(
            200,
            {
                "url": self.gateway_url,
                "shards": self.shard_count,
                "session_start_limit": self._session_start_limit(),
            },
        )


def _shard_of(session: Session) -> list[int]:
    return list(session.shard) if session.shard else [0, 1]


def _on_shard(conn: GatewayConn, shard: int) -> bool:
    return conn.session is not None and conn.session.shard_id == shard and not conn.ws.closed


_OpHandler = Callable[[Gateway, GatewayConn, Any], Awaitable[None]]
_OP_HANDLERS: dict[Any, _OpHandler] = {
    Opcode.HEARTBEAT: Gateway._on_heartbeat,
    Opcode.IDENTIFY: Gateway._on_identify,
    Opcode.RESUME: Gateway._on_resume,
    Opcode.REQUEST_GUILD_MEMBERS: Gateway._on_request_guild_members,
}
