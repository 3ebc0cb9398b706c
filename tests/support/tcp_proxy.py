"""A loopback TCP proxy a test can cut: a backend that goes away without stopping the shared one.

Tests point a client at the proxy instead of the real Redis or PostgreSQL. :meth:`TCPProxy.cut`
stops listening and resets every open connection (the client sees what it sees when the
server dies: reset connections, then refused ones); :meth:`TCPProxy.restore` listens again on
the same port. :meth:`TCPProxy.hold_replies` keeps the server's replies on the connections
open now from reaching the client (the server still runs what it is sent): a client
cancelled while waiting for one. Other tests using the real server are not affected.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import typing

if typing.TYPE_CHECKING:
    from collections.abc import AsyncIterator

__all__ = ["TCPProxy", "proxied_url", "tcp_proxy"]


class TCPProxy:
    def __init__(self, target_host: str, target_port: int) -> None:
        self.target_host = target_host
        self.target_port = target_port
        self.port = 0
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._pumps: set[asyncio.Task[None]] = set()
        self._replies_flowing: set[asyncio.Event] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(
            self._accept, "127.0.0.1", self.port, reuse_address=True
        )
        self.port = self._server.sockets[0].getsockname()[1]

    async def cut(self) -> None:
        """Refuse new connections and reset the open ones."""
        server, self._server = self._server, None
        if server is not None:
            server.close()  # stop listening first: nothing new comes in while we reset
        for writer in list(self._writers):
            sock = writer.get_extra_info("socket")
            if sock is not None:  # RST, not FIN: as a host that went away
                with contextlib.suppress(OSError):  # a connection closing on its own just now
                    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            writer.transport.abort()
        self._writers.clear()
        for pump in list(self._pumps):
            pump.cancel()
        await asyncio.gather(*self._pumps, return_exceptions=True)
        if server is not None:
            await server.wait_closed()  # since 3.12 it waits for the connections' handlers

    def hold_replies(self) -> None:
        """From now on, forward no reply on the connections open now (new ones flow)."""
        for flowing in self._replies_flowing:
            flowing.clear()

    async def restore(self) -> None:
        """Listen again on the same port (nothing when it listens already)."""
        if self._server is None:
            await self.start()

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            up_reader, up_writer = await asyncio.open_connection(self.target_host, self.target_port)
        except OSError:
            writer.transport.abort()
            return
        self._writers.update((writer, up_writer))
        replies_flowing = asyncio.Event()
        replies_flowing.set()
        self._replies_flowing.add(replies_flowing)
        pumps = (
            asyncio.create_task(_pump(reader, up_writer)),
            asyncio.create_task(_pump(up_reader, writer, replies_flowing)),
        )
        self._pumps.update(pumps)
        try:
            await asyncio.gather(*pumps, return_exceptions=True)
        finally:
            self._pumps.difference_update(pumps)
            self._replies_flowing.discard(replies_flowing)
            for end in (writer, up_writer):
                self._writers.discard(end)
                end.transport.abort()


async def _pump(
    reader: asyncio.StreamReader,
    writer: asyncio.StreamWriter,
    flowing: asyncio.Event | None = None,
) -> None:
    try:
        while data := await reader.read(65536):
            if flowing is not None:
                await flowing.wait()
            writer.write(data)
            await writer.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        writer.transport.abort()


@contextlib.asynccontextmanager
async def tcp_proxy(url: str) -> AsyncIterator[TCPProxy]:
    """A started proxy to the host and port of `url` (`redis://`, `postgres://`)."""
    import yarl

    parsed = yarl.URL(url)
    assert parsed.host is not None and parsed.port is not None, url
    proxy = TCPProxy(parsed.host, parsed.port)
    await proxy.start()
    try:
        yield proxy
    finally:
        await proxy.cut()


def proxied_url(url: str, proxy: TCPProxy) -> str:
    """`url` with its host and port replaced by the proxy's."""
    import yarl

    return str(yarl.URL(url).with_host("127.0.0.1").with_port(proxy.port))
