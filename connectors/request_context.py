"""What every lookup in an agency's registry carries: why the bus asks, and until when."""

from __future__ import annotations

import uuid
from dataclasses import dataclass, field


def _request_id() -> str:
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class RequestContext:
    """``procedure`` is the code of the procedure the data is for (the registries log it as
    MaDVC), ``request_id`` the lookup's id (MaYeuCau), ``deadline`` an absolute
    ``time.monotonic()`` by which the answer is needed (propagated to the provider call)."""

    procedure: str = ""
    request_id: str = field(default_factory=_request_id)
    deadline: float | None = None

    def soap_header(self, agency_code: str) -> dict[str, str]:
        """The request header fields shared by the population and transport registries."""
        return {"MaYeuCau": self.request_id, "MaDVC": self.procedure, "MaDonVi": agency_code}
