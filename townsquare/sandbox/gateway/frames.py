"""Writing many gateway frames with one transport write.

A busy channel produces thousands of dispatches per second; framing each through aiohttp's
websocket writer costs a syscall and several microseconds per frame. When no websocket
extension was negotiated (hikari negotiates none), frames are plain RFC 6455 server frames —
FIN + opcode, the length, the payload, no mask — so a batch is framed here and written at once.
With permessage-deflate negotiated, aiohttp frames them instead.
"""

from __future__ import annotations

import asyncio
import struct
import typing

if typing.TYPE_CHECKING:
    from aiohttp import web

__all__ = ["FrameWriter"]

_FIN: typing.Final[int] = 0x80
_TEXT: typing.Final[int] = 0x1
_BINARY: typing.Final[int] = 0x2
_HIGH_WATER: typing.Final[int] = 4 * 1024 * 1024
"""Bytes buffered in the transport before the writer waits for the client to read."""


class FrameWriter:
    def __init__(self, request: web.Request, ws: web.WebSocketResponse, *, binary: bool) -> None:
        self._request = request
        self._ws = ws
        self._binary = binary
        self._first_byte = _FIN | (_BINARY if binary else _TEXT)

    async def write(self, payloads: list[bytes]) -> bool:
        """Send each payload as one frame, in order; False once the connection is gone."""
        if self._ws.compress:
            for payload in payloads:
                if self._binary:
                    await self._ws.send_bytes(payload)
                else:
                    await self._ws.send_str(payload.decode())
            return True
        transport = self._request.transport
        if transport is None or transport.is_closing():
            return False
        parts: list[bytes] = []
        for payload in payloads:
            parts += [self._header(len(payload)), payload]
        transport.write(b"".join(parts))
        while transport.get_write_buffer_size() > _HIGH_WATER:
            await asyncio.sleep(0.001)
            if transport.is_closing():
                return False
        return True

    def _header(self, length: int) -> bytes:
        if length < 126:
            return bytes((self._first_byte, length))
        if length < 1 << 16:
            return struct.pack("!BBH", self._first_byte, 126, length)
        return struct.pack("!BBQ", self._first_byte, 127, length)
