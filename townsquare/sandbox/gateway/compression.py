"""Transport compression of gateway frames.

hikari asks for `compress=zlib-stream` and reads only BINARY frames then: one zlib stream per
connection, each payload flushed with Z_SYNC_FLUSH so that it ends in `00 00 ff ff`. Without
`compress` the frames are uncompressed TEXT. `zstd-stream` is refused: hikari requests it only on
Python 3.14+ or with `backports.zstd` installed, neither of which applies here (see
docs/sandbox.md).
"""

from __future__ import annotations

import typing
import zlib

__all__ = ["FrameEncoder", "PlainEncoder", "ZlibStreamEncoder", "encoder_for"]


class FrameEncoder(typing.Protocol):
    binary: bool
    """Whether frames go out as BINARY (else TEXT)."""

    def encode(self, payload: bytes) -> bytes: ...


class PlainEncoder:
    binary = False

    def encode(self, payload: bytes) -> bytes:
        return payload


class ZlibStreamEncoder:
    """One deflate stream for the whole connection, synced after every payload."""

    binary = True

    def __init__(self) -> None:
        self._compressor = zlib.compressobj()

    def encode(self, payload: bytes) -> bytes:
        return self._compressor.compress(payload) + self._compressor.flush(zlib.Z_SYNC_FLUSH)


def encoder_for(compress: str | None) -> FrameEncoder:
    """The encoder for a `compress` query value; ValueError for one the sandbox lacks."""
    if compress is None:
        return PlainEncoder()
    if compress == "zlib-stream":
        return ZlibStreamEncoder()
    msg = f"unsupported gateway compression {compress!r}; use zlib-stream or none"
    raise ValueError(msg)
