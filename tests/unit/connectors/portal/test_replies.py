"""How the connector judges the portal's replies (portal-dvcqg.md §1, §2.2, §2.3): success is
``error_code`` 0 as a number or a string; "not found" is an empty ``result``; "already exists"
is a code *and* the message, and a create answered 0 with "đã tồn tại" is never written."""

from __future__ import annotations

import unicodedata

import pytest

from connectors.portal import protocol
from connectors.portal.session import Codes

CREATE = {"isUpdating": "False", "data": []}
UPDATE = {"isUpdating": "True", "data": []}


@pytest.mark.parametrize(
    ("service", "fields", "code", "message", "result", "outcome"),
    [
        (protocol.SYNC, UPDATE, protocol.code_of(0), "Thành công", None, "ok"),
        (protocol.SYNC, UPDATE, protocol.code_of("0"), "Thành công", None, "ok"),
        (protocol.SYNC, CREATE, "0", "Thành công", None, "ok"),
        (protocol.SYNC, CREATE, "0", "Hồ sơ 000.00.00.H49-240502-0001 đã tồn tại", None, "already_exists"),
        (protocol.SYNC, CREATE, "-3", "Mã hồ sơ ĐÃ TỒN TẠI trên hệ thống", None, "already_exists"),
        (protocol.SYNC, CREATE, "3", "đã tồn tại", None, "already_exists"),
        (protocol.SYNC, CREATE, "3", "Lỗi dữ liệu", None, "rejected"),  # the code alone is not enough
        (protocol.SYNC, CREATE, "7", "đã tồn tại", None, "rejected"),  # nor the message alone
        (
            protocol.SYNC,
            UPDATE,
            "0",
            "Hồ sơ đã tồn tại, đã cập nhật",
            None,
            "ok",
        ),  # an update is not a create
        (protocol.LOOKUP, {"mahoso": "x"}, "0", "", [], "not_found"),
        (protocol.LOOKUP, {"mahoso": "x"}, "0", "", None, "not_found"),
        (protocol.LOOKUP, {"mahoso": "x"}, "0", "", [{"MaHoSo": "x"}], "ok"),
        (protocol.LOOKUP, {"mahoso": "x"}, "01", "Không tìm thấy", None, "rejected"),
        (
            protocol.SYNC,
            UPDATE,
            "00",
            "",
            None,
            "rejected",
        ),  # the payment platform's success, not the portal's
        (protocol.SYNC, UPDATE, "99", "", None, "rejected"),  # no expiry code unless configured
    ],
)
def test_default_judgement(
    service: str, fields: dict[str, str], code: str, message: str, result: object, outcome: str
) -> None:
    assert Codes().outcome(service, fields, code, message, result) == outcome


def test_the_message_is_compared_after_nfc_normalisation() -> None:
    decomposed = unicodedata.normalize("NFD", "Hồ sơ ĐÃ TỒN TẠI")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    assert Codes().outcome(protocol.SYNC, CREATE, "0", decomposed, None) == "already_exists"


def test_a_success_code_with_the_message_is_never_written_whatever_the_configured_codes() -> None:
    codes = Codes(already_exists=frozenset({"-3"}))
    assert codes.outcome(protocol.SYNC, CREATE, "0", "đã tồn tại", None) == "already_exists"


def test_configured_codes() -> None:
    codes = Codes(
        success=frozenset({"0", "00"}),
        session_expired=frozenset({"99"}),
        already_exists=frozenset({"02"}),
        already_exists_message="already exists",
    )
    assert codes.outcome(protocol.SYNC, UPDATE, "00", "", None) == "ok"
    assert codes.outcome(protocol.SYNC, UPDATE, "99", "", None) == "session_expired"
    assert codes.outcome(protocol.SYNC, CREATE, "02", "Dossier Already Exists", None) == "already_exists"
    assert codes.outcome(protocol.SYNC, CREATE, "02", "đã tồn tại", None) == "rejected"
