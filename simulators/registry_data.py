"""The seeded, deterministic data behind the agency simulators.

The population, business and road-transport simulators all read one :class:`Registry` built
from the same seed, so their answers agree: the legal representatives of the businesses are
citizens of the population database, and the vehicles belong to those citizens and businesses.
An end-to-end scenario can look a citizen up, find their company, then its licence and badges.

The data follows the law in force since 1 July 2025 (docs/identifiers.md): addresses recorded
since then name the province (one of the 34) and the commune, ward or special zone, with no
district; records made before keep the province and district of their time. Some citizens' dates
of birth are known to the year only. Household businesses hold transport licences under their
owner's 12-digit personal ID, which is their tax code; the business registry holds enterprises
only. The place names are for the demo; they are not a copy of the official list.
"""

from __future__ import annotations

import functools
import random
from dataclasses import dataclass
from datetime import date, timedelta

DEFAULT_SEED = 20240501

_HO = ("Nguyễn", "Trần", "Lê", "Phạm", "Hoàng", "Vũ", "Đặng", "Bùi", "Đỗ", "Hồ")
_CHU_DEM = {"M": ("Văn", "Đức", "Minh", "Quang", "Hữu"), "F": ("Thị", "Ngọc", "Thu", "Thanh", "Mai")}
_TEN = {
    "M": ("An", "Bình", "Cường", "Dũng", "Hải", "Hùng", "Long", "Nam", "Sơn", "Tuấn"),
    "F": ("Anh", "Châu", "Hà", "Hoa", "Lan", "Linh", "Ngân", "Phương", "Trang", "Yến"),
}


@dataclass(frozen=True, slots=True)
class _Region:
    birth_code: str  # of the personal ID: the province as it was, unchanged by mergers
    old_province: str  # before 1 July 2025
    districts: tuple[str, ...]  # before 1 July 2025
    province: str  # since 1 July 2025 (Nghị quyết 202/2025/QH15)
    wards: tuple[str, ...]  # communes, wards, special zones of the two-level administration
    plate_prefix: str


_PROVINCES = (
    _Region(
        "022",
        "Quảng Ninh",
        ("Hạ Long", "Cẩm Phả", "Uông Bí"),
        "Quảng Ninh",
        ("Phường Hạ Long", "Phường Cẩm Phả", "Đặc khu Vân Đồn"),
        "14",
    ),
    _Region(
        "001",
        "Hà Nội",
        ("Ba Đình", "Cầu Giấy", "Đống Đa"),
        "Hà Nội",
        ("Phường Ba Đình", "Phường Cầu Giấy", "Phường Đống Đa"),
        "29",
    ),
    _Region(
        "031",
        "Hải Phòng",
        ("Lê Chân", "Ngô Quyền", "Hồng Bàng"),
        "Hải Phòng",
        ("Phường Lê Chân", "Phường Ngô Quyền", "Đặc khu Cát Hải"),
        "15",
    ),
    # merged into Quảng Trị on 1 July 2025; its people's personal IDs keep 044
    _Region(
        "044",
        "Quảng Bình",
        ("Đồng Hới", "Ba Đồn", "Bố Trạch"),
        "Quảng Trị",
        ("Phường Đồng Hới", "Phường Ba Đồn", "Xã Bố Trạch"),
        "73",
    ),
)
# The day the two-level administration began: records made since have no district.
TWO_LEVELS_SINCE = date(2025, 7, 1)
_STREETS = ("Trần Hưng Đạo", "Lê Lợi", "Hai Bà Trưng", "Nguyễn Trãi", "Lý Thường Kiệt")
_LINES = (
    ("4931", "Vận tải hành khách đường bộ trong nội thành, ngoại thành"),
    ("4932", "Vận tải hành khách đường bộ khác"),
    ("4933", "Vận tải hàng hóa bằng đường bộ"),
    ("4620", "Bán buôn nông, lâm sản nguyên liệu"),
    ("5510", "Dịch vụ lưu trú ngắn ngày"),
)
_TRANSPORT_LINES = {"4931", "4932", "4933"}
_TAX_WEIGHTS = (31, 29, 23, 19, 17, 13, 7, 5, 3)


@dataclass(frozen=True, slots=True)
class Address:
    street: str
    ward: str  # commune, ward or special zone
    district: str | None  # None in addresses recorded since 1 July 2025
    province: str

    def text(self) -> str:
        parts = (self.street, self.ward, self.district, self.province)
        return ", ".join(part for part in parts if part)


@dataclass(frozen=True, slots=True)
class Citizen:
    personal_id: str
    ho: str
    chu_dem: str
    ten: str
    sex: str  # "M" or "F"
    date_of_birth: str  # as the population database holds it: yyyy-mm-dd, or yyyy alone
    permanent: Address
    current: Address

    @property
    def full_name(self) -> str:
        return " ".join(part for part in (self.ho, self.chu_dem, self.ten) if part)


@dataclass(frozen=True, slots=True)
class BusinessLine:
    code: str  # VSIC 2018
    name: str
    main: bool


@dataclass(frozen=True, slots=True)
class Enterprise:
    tax_code: str
    name: str
    legal_representative: str  # personal ID of a citizen
    address: Address
    lines: tuple[BusinessLine, ...]
    status: str  # "active", "suspended", "dissolved"
    registered_on: date


@dataclass(frozen=True, slots=True)
class Vehicle:
    plate: str
    owner_id: str  # a personal ID or a tax code
    owner_name: str
    kind: str
    brand: str
    seats: int
    manufactured: int
    inspection_expiry: date


@dataclass(frozen=True, slots=True)
class TransportLicence:
    number: str
    tax_code: str
    kinds: tuple[str, ...]
    issued_on: date
    expires_on: date
    issuer: str


@dataclass(frozen=True, slots=True)
class Badge:
    number: str
    plate: str
    licence: str
    kind: str
    valid_until: date


@dataclass(frozen=True)
class Registry:
    citizens: tuple[Citizen, ...]
    enterprises: tuple[Enterprise, ...]
    vehicles: tuple[Vehicle, ...]
    licences: tuple[TransportLicence, ...]
    badges: tuple[Badge, ...]

    @functools.cached_property
    def _citizens(self) -> dict[str, Citizen]:
        return {c.personal_id: c for c in self.citizens}

    @functools.cached_property
    def _enterprises(self) -> dict[str, Enterprise]:
        return {e.tax_code: e for e in self.enterprises}

    @functools.cached_property
    def _vehicles(self) -> dict[str, Vehicle]:
        return {v.plate: v for v in self.vehicles}

    @functools.cached_property
    def _licences(self) -> dict[str, TransportLicence]:
        return {lic.tax_code: lic for lic in self.licences}

    def citizen(self, personal_id: str) -> Citizen | None:
        return self._citizens.get(personal_id)

    def enterprise(self, tax_code: str) -> Enterprise | None:
        return self._enterprises.get(tax_code.replace("-", ""))

    def vehicle(self, plate: str) -> Vehicle | None:
        return self._vehicles.get(plate)

    def licence(self, tax_code: str) -> TransportLicence | None:
        return self._licences.get(tax_code.replace("-", ""))

    def badges_of(self, plate: str) -> tuple[Badge, ...]:
        return tuple(b for b in self.badges if b.plate == plate)

    def household_licences(self) -> tuple[TransportLicence, ...]:
        """The licences of household businesses: under the owner's 12-digit personal ID."""
        return tuple(lic for lic in self.licences if lic.tax_code in self._citizens)

    def enterprises_of(self, personal_id: str) -> tuple[Enterprise, ...]:
        """The enterprises whose legal representative the citizen is."""
        return tuple(e for e in self.enterprises if e.legal_representative == personal_id)


def tax_check_digit(first9: str) -> int | None:
    """The check digit of a tax code's first nine digits, or ``None`` when no digit fits."""
    check = 10 - sum(w * int(d) for w, d in zip(_TAX_WEIGHTS, first9, strict=True)) % 11
    return check if check < 10 else None


def _address(rng: random.Random, region: _Region, *, before_2025: bool = False) -> Address:
    """An address in ``region``: as recorded before 1 July 2025 (old province, district, a
    numbered ward) or since (province of 2025, commune/ward/special zone, no district)."""
    street = f"{rng.randint(1, 300)} {rng.choice(_STREETS)}"
    number = rng.randint(1, 20)
    place = rng.randrange(len(region.districts))
    if before_2025:
        return Address(street, f"Phường {number}", region.districts[place], region.old_province)
    return Address(street, region.wards[place], None, region.province)


def region_of(address: Address) -> _Region:
    """The region an address lies in, whichever administration it was recorded under."""
    return next(r for r in _PROVINCES if address.province in (r.province, r.old_province))


def _citizen(rng: random.Random, serials: set[str], index: int) -> Citizen:
    province = rng.choice(_PROVINCES)
    sex = rng.choice("MF")
    born = date(1950, 1, 1) + timedelta(days=rng.randint(0, 365 * 55))
    century = (born.year // 100 - 19) * 2 + (1 if sex == "F" else 0)
    while True:
        serial = f"{rng.randint(0, 999_999):06d}"
        personal_id = f"{province.birth_code}{century}{born.year % 100:02d}{serial}"
        if personal_id not in serials:
            serials.add(personal_id)
            break
    # a third of the permanent residences were registered before the merger and keep their
    # district; every current residence is recorded under the two-level administration
    permanent = _address(rng, province, before_2025=index % 3 == 0)
    current = permanent if rng.random() < 0.6 else _address(rng, rng.choice(_PROVINCES))
    if permanent.district is not None and current is permanent:
        current = Address(permanent.street, _ward_since_2025(permanent), None, province.province)
    return Citizen(
        personal_id=personal_id,
        ho=rng.choice(_HO),
        chu_dem=rng.choice(_CHU_DEM[sex]),
        ten=rng.choice(_TEN[sex]),
        sex=sex,
        # one in seven is known to the year only (as the population database holds some)
        date_of_birth=str(born.year) if index % 7 == 3 else born.isoformat(),
        permanent=permanent,
        current=current,
    )


def _ward_since_2025(address: Address) -> str:
    region = region_of(address)
    return region.wards[region.districts.index(address.district or "")]


def _tax_code(rng: random.Random, taken: set[str]) -> str:
    while True:
        first9 = f"0{rng.randint(10_000_000, 99_999_999)}"
        check = tax_check_digit(first9)
        code = f"{first9}{check}"
        if check is not None and code not in taken:
            taken.add(code)
            return code


@functools.lru_cache(maxsize=4)
def build(seed: int = DEFAULT_SEED, citizens: int = 120, enterprises: int = 30) -> Registry:
    """The registry of ``seed``: the same seed gives the same data, in every process."""
    rng = random.Random(seed)
    serials: set[str] = set()
    people = tuple(_citizen(rng, serials, index) for index in range(citizens))
    taken: set[str] = set()
    firms: list[Enterprise] = []
    for index in range(enterprises):
        owner = people[index]
        province = region_of(owner.permanent)
        # the first two thirds are transport companies, so licences and badges have owners
        picks = rng.sample(_LINES[:3] if index < enterprises * 2 // 3 else _LINES[3:], 2)
        firms.append(
            Enterprise(
                tax_code=_tax_code(rng, taken),
                name=f"Công ty TNHH {owner.ten} {province.province} {index + 1:02d}",
                legal_representative=owner.personal_id,
                # a quarter of the head offices are as registered before the merger
                address=_address(rng, province, before_2025=index % 4 == 1),
                lines=tuple(BusinessLine(code, name, main=i == 0) for i, (code, name) in enumerate(picks)),
                status="active" if index % 10 else "suspended",
                registered_on=date(2005, 1, 1) + timedelta(days=rng.randint(0, 6000)),
            )
        )
    branch = firms[0]
    firms.append(
        Enterprise(
            tax_code=f"{branch.tax_code}001",
            name=f"{branch.name} - Chi nhánh Hà Nội",
            legal_representative=people[enterprises].personal_id,
            address=_address(rng, _PROVINCES[1]),
            lines=branch.lines,
            status="active",
            registered_on=branch.registered_on + timedelta(days=400),
        )
    )
    vehicles: list[Vehicle] = []
    licences: list[TransportLicence] = []
    badges: list[Badge] = []
    for firm in firms[: enterprises * 2 // 3]:
        region = region_of(firm.address)
        prefix = region.plate_prefix
        transport = {line.code for line in firm.lines} & _TRANSPORT_LINES
        licence = TransportLicence(
            number=f"{prefix}-{len(licences) + 1:05d}/GPKDVT",
            tax_code=firm.tax_code,
            kinds=tuple(sorted(transport)),
            issued_on=firm.registered_on + timedelta(days=30),
            expires_on=firm.registered_on + timedelta(days=30 + 365 * 7),
            # issued before 2025, by the transport department of the province as it was
            issuer=f"Sở Giao thông vận tải {region.old_province}",
        )
        licences.append(licence)
        for _ in range(rng.randint(1, 3)):
            passenger = "4933" not in transport
            plate = f"{prefix}{'B' if passenger else 'C'}-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
            if any(v.plate == plate for v in vehicles):
                continue
            vehicles.append(
                Vehicle(
                    plate=plate,
                    owner_id=firm.tax_code,
                    owner_name=firm.name,
                    kind="Ô tô khách" if passenger else "Ô tô tải",
                    brand=rng.choice(("Thaco", "Hyundai", "Isuzu", "Ford")),
                    seats=rng.choice((16, 29, 45)) if passenger else 2,
                    manufactured=rng.randint(2010, 2023),
                    inspection_expiry=date(2024, 1, 1) + timedelta(days=rng.randint(0, 700)),
                )
            )
            badges.append(
                Badge(
                    number=f"{prefix}{len(badges) + 1:06d}",
                    plate=plate,
                    licence=licence.number,
                    kind="Xe khách tuyến cố định" if passenger else "Xe tải",
                    valid_until=licence.expires_on,
                )
            )
    for owner in people[enterprises : enterprises + 20]:
        prefix = region_of(owner.permanent).plate_prefix
        plate = f"{prefix}A-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
        if any(v.plate == plate for v in vehicles):
            continue
        vehicles.append(
            Vehicle(
                plate=plate,
                owner_id=owner.personal_id,
                owner_name=owner.full_name,
                kind="Ô tô con",
                brand=rng.choice(("Toyota", "Kia", "VinFast", "Mazda")),
                seats=rng.choice((4, 5, 7)),
                manufactured=rng.randint(2010, 2023),
                inspection_expiry=date(2024, 1, 1) + timedelta(days=rng.randint(0, 700)),
            )
        )
    _household_businesses(rng, people[enterprises + 20 : enterprises + 24], vehicles, licences, badges)
    return Registry(tuple(people), tuple(firms), tuple(vehicles), tuple(licences), tuple(badges))


def _household_businesses(
    rng: random.Random,
    owners: tuple[Citizen, ...],
    vehicles: list[Vehicle],
    licences: list[TransportLicence],
    badges: list[Badge],
) -> None:
    """Household transport businesses licensed since 1 July 2025: the licence is under the
    owner's personal ID, their tax code (Thông tư 86/2024/TT-BTC); the vehicle is the owner's."""
    for owner in owners:
        region = region_of(owner.current)
        issued = TWO_LEVELS_SINCE + timedelta(days=rng.randint(30, 150))
        licence = TransportLicence(
            number=f"{region.plate_prefix}-{len(licences) + 1:05d}/GPKDVT",
            tax_code=owner.personal_id,
            kinds=("4932",),
            issued_on=issued,
            expires_on=issued + timedelta(days=365 * 7),
            issuer=f"Sở Xây dựng {region.province}",  # the transport departments merged into it in 2025
        )
        licences.append(licence)
        plate = f"{region.plate_prefix}B-{rng.randint(100, 999)}.{rng.randint(10, 99)}"
        if any(v.plate == plate for v in vehicles):
            continue
        vehicles.append(
            Vehicle(
                plate=plate,
                owner_id=owner.personal_id,
                owner_name=owner.full_name,
                kind="Ô tô khách",
                brand=rng.choice(("Thaco", "Hyundai", "Ford")),
                seats=16,
                manufactured=rng.randint(2015, 2024),
                inspection_expiry=issued + timedelta(days=rng.randint(180, 700)),
            )
        )
        badges.append(
            Badge(
                number=f"{region.plate_prefix}{len(badges) + 1:06d}",
                plate=plate,
                licence=licence.number,
                kind="Xe khách hợp đồng",
                valid_until=licence.expires_on,
            )
        )
