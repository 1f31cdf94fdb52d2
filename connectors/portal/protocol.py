"""The portal's JSON protocol as its real clients speak it (``shared/reference/portal-dvcqg.md``
§1-2): the services, the default paths of its three endpoints, and how a reply is read.

Every call is a POST of JSON. Login goes to the *auth* endpoint; the dossier services and
``LayThuTuc`` to the *integration* endpoint; the catalogues (``LayDanhSachTTHC``,
``LayDanhMucCoQuan``, ``LayDanhMucLinhVuc``, ``TraCuuTechID``) to the *share* endpoint. A reply
is ``{error_code, message, ...}``; the services that return data put it in ``result`` (an array).
Success is ``error_code`` 0, sent as a number or as the string ``"0"``.

What no public client shows is configuration, with the defaults below: the paths (each portal
adapter has its own), the success codes, the codes that come with "already exists" (seen
through a provincial bridge: ``"0"``, ``"3"``, ``"-3"``, always with a message saying "đã tồn
tại"), and the reply to an expired session (unknown: HTTP 401 is always taken as one; codes
are added by configuration).
"""

from __future__ import annotations

import unicodedata
from typing import Final

AUTH_PATH: Final = "/auth/login"
INTEGRATION_PATH: Final = "/adapter/service"
SHARE_PATH: Final = "/adapter/share"
ENDPOINTS: Final = ("auth", "integration", "share")

LOOKUP: Final = "TraCuuHoSo"
SYNC: Final = "DongBoHoSoMC"
PROGRESS: Final = "CapNhatTienDoHoSoMC"
OPERATIONS: Final = (LOOKUP, SYNC, PROGRESS)

# the request keys, spelled as the real clients spell them
LOOKUP_KEY: Final = "mahoso"  # all lower-case
UPDATING_KEY: Final = "isUpdating"  # "True" / "False", strings
TRUE, FALSE = "True", "False"

DEFAULT_SUCCESS: Final = frozenset({"0"})
DEFAULT_ALREADY_EXISTS: Final = frozenset({"0", "3", "-3"})
DEFAULT_ALREADY_EXISTS_MESSAGE: Final = "đã tồn tại"
DEFAULT_SESSION_EXPIRED: Final = frozenset[str]()  # plus HTTP 401, always
DEFAULT_SESSION_MAX_AGE_S: Final = 600.0  # OpenCPS reuses a session for 10 minutes


def code_of(value: object) -> str:
    """An ``error_code`` as text (the portal sends numbers or strings)."""
    if isinstance(value, bool):
        return str(int(value))
    return str(value).strip()


def folded(text: str) -> str:
    """Text for a case-insensitive comparison: NFC-normalised (a message may spell "ồ" as "ô"
    plus a combining grave accent), then case-folded."""
    return unicodedata.normalize("NFC", text).casefold()


def says(message: str, fragment: str) -> bool:
    """Whether ``message`` contains ``fragment`` (compared as :func:`folded` text)."""
    return bool(fragment) and folded(fragment) in folded(message)
