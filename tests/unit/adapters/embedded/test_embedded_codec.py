"""Placement and header encoding: both are part of the on-disk format."""

from __future__ import annotations

import zlib

from adapters.embedded.codec import decode_headers, encode_headers, encode_more, partition_for


def test_partition_is_crc32_of_utf8_key_modulo_count() -> None:
    for key in ("", "G22.001-250101-0001", "hồ sơ/ĐÀ NẴNG", "x" * 1000):
        for partitions in (1, 8, 64):
            assert partition_for(key, partitions) == zlib.crc32(key.encode("utf-8")) % partitions


def test_partition_is_stable_across_versions() -> None:
    # Pinned values: if these change, existing logs would put old keys in new partitions.
    assert partition_for("000.00.00.H49-000001", 8) == 2
    assert partition_for("dossier-42", 64) == 48


def test_headers_round_trip_exactly() -> None:
    headers = (
        ("ce_id", b"abc"),
        ("ce_source", "urn:vn:bộ-công-an".encode()),
        ("raw", bytes(range(256))),  # not UTF-8
        ("empty", b""),
        ("ce_id", b"repeated names keep their order"),
        ("tên-tiếng-việt", b"\xff\xfe"),
    )
    assert decode_headers(encode_headers(headers)) == headers


def test_no_headers_cost_nothing() -> None:
    assert encode_headers(()) == b""
    assert decode_headers(b"") == ()


def test_many_and_large_headers() -> None:
    headers = tuple((f"h{index}", bytes([index % 256]) * index) for index in range(300))
    headers += (("big", b"\x00" * (1 << 20)),)
    assert decode_headers(encode_headers(headers)) == headers


def test_headers_encoded_with_more_read_back_as_all_of_them() -> None:
    own = (("ce_id", b"1"), ("ce_type", b"t\xc3\xa9"))
    more = (("lienthong_received_at", b"1700000000000"), ("x", b""))
    assert decode_headers(encode_more(encode_headers(own), more)) == (*own, *more)
    assert decode_headers(encode_more(encode_headers(()), more)) == more
    assert encode_more(encode_headers(own), ()) == encode_headers(own)
