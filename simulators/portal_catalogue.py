"""The portal simulator's procedure catalogue: a deterministic set of procedures, agencies and
fields served as the real portal serves them (reference portal-dvcqg.md §2.6, §2.7).

- ``LayDanhSachTTHC`` -> ``result[{MATTHC, TENTTHC}]``;
- ``LayDanhMucCoQuan`` -> ``result[{MADONVI, TENDONVI, CAPDONVI}]``;
- ``LayDanhMucLinhVuc`` -> ``result[{MALINHVUC, TENLINHVUC, MANGANH}]``;
- ``LayThuTuc`` (``maTTHC``) -> ``result[0]`` with the upper-case keys of §2.6, or an empty
  ``result`` for a code the portal does not have.

The same seed gives the same catalogue (codes, names, channels, durations), so a test can compute
what a sync must import. ``PUT /_sim/catalogue`` changes it for a test: ``{"withdraw": [codes],
"rename": {code: name}, "fault": {service: mode}}`` with modes ``not_a_list`` (``result`` an
object), ``bad_item`` (an item without its code), ``oversized`` (far more items than any
province has) and ``empty`` (an empty ``result``); ``{"reset": true}`` restores it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

PROCEDURES = 2150
AGENCIES = 48
FIELDS = 64
OVERSIZED = 30000
FAULT_MODES = ("not_a_list", "bad_item", "oversized", "empty")

LIST = "LayDanhSachTTHC"
PROCEDURE = "LayThuTuc"
AGENCY_LIST = "LayDanhMucCoQuan"
FIELD_LIST = "LayDanhMucLinhVuc"
SERVICES = (LIST, PROCEDURE, AGENCY_LIST, FIELD_LIST)

_SUBJECTS = (
    "Đăng ký khai sinh",
    "Cấp giấy phép xây dựng",
    "Đăng ký hộ kinh doanh",
    "Cấp phiếu lý lịch tư pháp",
    "Chứng thực bản sao",
    "Đăng ký kết hôn",
    "Cấp giấy phép lái xe",
    "Đăng ký thường trú",
    "Cấp giấy chứng nhận quyền sử dụng đất",
    "Trợ cấp xã hội",
)
_UNITS = ("Ngày làm việc", "Ngày", "Giờ")

Reply = tuple[int | str, str, dict[str, Any]]
INVALID = "03"  # the simulator's refusal of a request that breaks a rule (simulators.portal)


def agency_code(number: int) -> str:
    return f"000.{number // 10:02d}.{number % 10 + 10:02d}.H49"


# the procedures of the demo configuration (examples/lienthong.yaml) and of the tests' dossiers
# come first, so that the simulated portal knows them
KNOWN_PROCEDURES = ("1.002861", "1.002859", "1.002856", "1.001612", "1.004194", "1.000894")


def procedure_codes(size: int) -> list[str]:
    """``size`` distinct codes: the known ones, then generated ones (``1.001000``, ``2.001001``...)."""
    codes = list(KNOWN_PROCEDURES[:size])
    number = 0
    while len(codes) < size:
        code = f"{number % 3 + 1}.{number + 1000:06d}"
        if code not in KNOWN_PROCEDURES:
            codes.append(code)
        number += 1
    return codes


@dataclass
class Catalogue:
    seed: int = 0
    size: int = PROCEDURES
    withdrawn: set[str] = field(default_factory=set)
    renamed: dict[str, str] = field(default_factory=dict)
    faults: dict[str, str] = field(default_factory=dict)
    procedures: dict[str, dict[str, Any]] = field(default_factory=dict)
    agencies: list[dict[str, Any]] = field(default_factory=list)
    fields: list[dict[str, Any]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.build()

    def build(self) -> None:
        rng = random.Random(self.seed)
        self.agencies = [
            {"MADONVI": agency_code(n), "TENDONVI": f"Sở ngành số {n + 1}", "CAPDONVI": str(1 + n % 3)}
            for n in range(AGENCIES)
        ]
        self.fields = [
            {
                "MALINHVUC": f"LV{n + 1:03d}",
                "TENLINHVUC": f"Lĩnh vực {n + 1}",
                "MANGANH": f"N{n % 12 + 1:02d}",
            }
            for n in range(FIELDS)
        ]
        self.procedures = {}
        for n, code in enumerate(procedure_codes(self.size)):
            agency = self.agencies[rng.randrange(AGENCIES)]
            area = self.fields[rng.randrange(FIELDS)]
            online = rng.random() < 0.6
            days = rng.choice((1, 3, 5, 7, 10, 15, 20, 30))
            unit = _UNITS[rng.randrange(len(_UNITS))] if rng.random() < 0.1 else _UNITS[0]
            channels = [1, 3, *([2] if online else [])]
            self.procedures[code] = {
                "MATTHC": code,
                "TENTTHC": f"{_SUBJECTS[n % len(_SUBJECTS)]} (thủ tục {n + 1})",
                "MACOQUANCONGBO": agency["MADONVI"],
                "TRANGTHAI": 1,
                "YEUCAU": "",
                "LINHVUCTHUCHIEN": [{"MALINHVUC": area["MALINHVUC"], "TENLINHVUC": area["TENLINHVUC"]}],
                "TRINHTUTHUCHIEN": [{"TRUONGHOP": "", "TRINHTU": [{"TENTRINHTU": "Nộp hồ sơ"}]}],
                "CACHTHUCTHUCHIEN": [
                    {
                        "KENH": kenh,
                        "THOIGIAN": [
                            {
                                "THOIGIANGIAIQUYET": days * (24 if unit == "Giờ" else 1),
                                "DONVITINH": unit,
                                "MOTA": "",
                                "PHILEPHI": [
                                    {"MAPHILEPHI": "1", "SOTIEN": 50000, "DONVI": "Đồng", "MOTA": ""}
                                ],
                            }
                        ],
                    }
                    for kenh in channels
                ],
                "DOITUONGTHUCHIEN": [{"TENDOITUONG": "Công dân Việt Nam"}],
                "KETQUATHUCHIEN": [{"MAKETQUA": f"KQ{n + 1:05d}", "TENKETQUA": "Giấy chứng nhận"}],
                "CANCUPHAPLY": [{"SOVANBAN": "118/2025/NĐ-CP", "TENVANBAN": "Nghị định"}],
                "COQUANTHUCHIEN": [{"MADONVI": agency["MADONVI"], "TENDONVI": agency["TENDONVI"]}],
                "THANHPHANHOSO": [],
            }

    def listed(self) -> list[dict[str, Any]]:
        return [
            {"MATTHC": code, "TENTTHC": self.renamed.get(code, record["TENTTHC"])}
            for code, record in self.procedures.items()
            if code not in self.withdrawn
        ]

    def procedure(self, code: str) -> dict[str, Any] | None:
        record = self.procedures.get(code)
        if record is None or code in self.withdrawn:
            return None
        return {**record, "TENTTHC": self.renamed.get(code, record["TENTTHC"])}

    # --- the services -------------------------------------------------------------------------

    def handlers(self) -> dict[str, dict[str, Callable[[Mapping[str, Any]], Reply]]]:
        """endpoint -> service -> handler: LayThuTuc on the integration endpoint, the lists on
        the share endpoint (reference §1)."""
        return {
            "integration": {PROCEDURE: self._procedure},
            "share": {
                LIST: lambda _: self._answer(LIST, self.listed()),
                AGENCY_LIST: lambda _: self._answer(AGENCY_LIST, self.agencies),
                FIELD_LIST: lambda _: self._answer(FIELD_LIST, self.fields),
            },
        }

    def _procedure(self, body: Mapping[str, Any]) -> Reply:
        code = body.get("maTTHC")
        if not isinstance(code, str) or not code:
            return INVALID, f"maTTHC: mã thủ tục không hợp lệ {code!r}", {}
        record = self.procedure(code)
        return self._answer(PROCEDURE, [] if record is None else [record])

    def _answer(self, service: str, items: list[dict[str, Any]]) -> Reply:
        mode = self.faults.get(service)
        result: Any = items
        if mode == "not_a_list":
            result = {"data": items}
        elif mode == "bad_item":
            result = [*items[:3], {"TENTTHC": "thiếu mã"}, *items[3:]]
        elif mode == "oversized":
            result = [{"MATTHC": f"9.{n:06d}", "TENTTHC": "x"} for n in range(OVERSIZED)]
        elif mode == "empty":
            result = []
        return 0, "Thành công", {"result": result}

    # --- control ------------------------------------------------------------------------------

    async def control(self, request: Request) -> Response:
        if request.method == "GET":
            return JSONResponse(self.state())
        try:
            body = await request.json()
        except ValueError:
            body = None
        if not isinstance(body, dict):
            return JSONResponse({"error": "a JSON object"}, status_code=400)
        if body.get("reset"):
            self.withdrawn.clear()
            self.renamed.clear()
            self.faults.clear()
        self.withdrawn.update(str(code) for code in body.get("withdraw", ()))
        self.withdrawn.difference_update(str(code) for code in body.get("restore", ()))
        self.renamed.update({str(k): str(v) for k, v in dict(body.get("rename", {})).items()})
        for service, mode in dict(body.get("fault", {})).items():
            if mode is None:
                self.faults.pop(service, None)
            elif mode in FAULT_MODES and service in SERVICES:
                self.faults[service] = mode
            else:
                return JSONResponse({"error": f"fault {service}: {mode}"}, status_code=400)
        return JSONResponse(self.state())

    def state(self) -> dict[str, Any]:
        return {
            "procedures": len(self.procedures) - len(self.withdrawn & set(self.procedures)),
            "withdrawn": sorted(self.withdrawn),
            "renamed": self.renamed,
            "faults": self.faults,
        }

    def routes(self) -> list[Route]:
        return [Route("/_sim/catalogue", self.control, methods=["GET", "PUT"])]
