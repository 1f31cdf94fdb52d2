"""How messages are placed and stored: the partitioner and the header encoding.

Both are part of the on-disk format: changing either changes where existing keys land or how
stored rows read back, so they are versioned with the tables (:data:`adapters.embedded.tables.VERSION`).
"""

from __future__ import annotations

import struct
import zlib

from router.ports import Headers


def partition_for(key: str, partitions: int) -> int:
    """The partition of a key: CRC-32 (zlib) of its UTF-8 bytes, modulo the partition count.

    Stable across processes and Python versions (unlike ``hash()``), so the same key always lands
    in the same partition and its messages stay in order.
    """
    return zlib.crc32(key.encode("utf-8")) % partitions


# Headers are stored as one blob: a little-endian u32 count, then (name length, value length) as
# u32 pairs, then the names and values back to back. Compact, exact for any bytes, and one
# struct call each way instead of a per-field encoder.
_COUNT = struct.Struct("<I")
_LAYOUTS: dict[int, struct.Struct] = {}


def _layout(count: int) -> struct.Struct:
    layout = _LAYOUTS.get(count)
    if layout is None:
        layout = _LAYOUTS[count] = struct.Struct("<I" + "II" * count)
    return layout


def encode_headers(headers: Headers) -> bytes:
    if not headers:
        return b""
    lengths: list[int] = []
    parts: list[bytes] = []
    _add_pairs(headers, lengths, parts)
    count = len(headers)
    return _layout(count).pack(count, *lengths) + b"".join(parts)


def _add_pairs(headers: Headers, lengths: list[int], parts: list[bytes]) -> None:
    """Appends each header's name and value lengths to ``lengths`` and their bytes to ``parts``."""
    for name, value in headers:
        raw = name.encode("utf-8")
        lengths.append(len(raw))
        lengths.append(len(value))
        parts.append(raw)
        parts.append(value)


def encode_more(blob: bytes, more: Headers) -> bytes:
    """The encoding of a message's headers followed by ``more``, from the encoding of its own
    (``blob``): the names and values stay as they are, only the counts and lengths are rewritten.
    A routed copy is its published message with a header added."""
    if not blob:
        return encode_headers(more)
    if not more:
        return blob
    (count,) = _COUNT.unpack_from(blob)
    layout = _layout(count)
    lengths = list(layout.unpack_from(blob))
    parts = [blob[layout.size :]]
    _add_pairs(more, lengths, parts)
    total = count + len(more)
    lengths[0] = total
    return _layout(total).pack(*lengths) + b"".join(parts)


def decode_headers(blob: bytes) -> Headers:
    if not blob:
        return ()
    (count,) = _COUNT.unpack_from(blob)
    layout = _layout(count)
    lengths = layout.unpack_from(blob)
    position = layout.size
    out: list[tuple[str, bytes]] = []
    for index in range(1, 2 * count, 2):
        name_end = position + lengths[index]
        value_end = name_end + lengths[index + 1]
        out.append((blob[position:name_end].decode("utf-8"), blob[name_end:value_end]))
        position = value_end
    return tuple(out)
