"""The portal's JSON protocol as lienthong speaks it: paths, operations and reply codes.

The public guide gives the shape (POST JSON, ``{session, madonvi, service, ...}``, replies
``{error_code, message}``, success ``0``/``"00"``) but not every code; the ones below are the
simulator's, and the connector takes its codes from its options (defaults here), so a province
whose portal adapter answers other codes configures them instead of changing code.
"""

from __future__ import annotations

LOGIN_PATH = "/auth/login"
SERVICE_PATH = "/adapter/service"

LOOKUP = "TraCuuHoSo"
SYNC = "DongBoHoSoMC"
PROGRESS = "CapNhatTienDoHoSoMC"
OPERATIONS = (LOOKUP, SYNC, PROGRESS)

# error_code values
SUCCESS_CODES = frozenset({"0", "00"})
NOT_FOUND = "01"  # TraCuuHoSo: no such dossier
ALREADY_EXISTS = "02"  # DongBoHoSoMC create: the dossier exists (đã tồn tại)
INVALID = "03"  # the request breaks the portal's rules (fields, codes, dates)
DOES_NOT_EXIST = "04"  # an update or progress for a dossier the portal does not have
BAD_CREDENTIALS = "05"
SESSION_EXPIRED = "99"  # the session is unknown or expired: log in again, repeat the call


def code_of(value: object) -> str:
    """An ``error_code`` as text (the portal sends numbers or strings)."""
    if isinstance(value, bool):
        return str(int(value))
    return str(value).strip()


def succeeded(code: str) -> bool:
    return code in SUCCESS_CODES
