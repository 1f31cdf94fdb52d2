"""The settings each connector kind takes: the keys of its ``connectors:`` entry and the names of
its ``options``.

A setting a kind does not use is a mistake that would otherwise pass in silence (``tls:`` on a
kind that ignored it meant calls without the intended client certificate or private CA), so the
configuration loader refuses any key or option not declared here, with the file, line, path and
the kind's list (``lienthong.config.connector_kinds``). Each kind's builder checks the values.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Final

from connectors.base import ConnectorKind
from connectors.generic.problems import SpecProblem
from connectors.generic.spec import REST_OPTIONS, SOAP_OPTIONS, DatasetKeys, rest_spec, soap_spec

# A kind's check of its options' values at load: (options, the configuration's folder, the
# connector's url, the catalogue's dataset keys) -> the problems, at paths under ``options``
OptionsCheck = Callable[[Mapping[str, Any], Path, str, DatasetKeys], Sequence[SpecProblem]]


def _problems_of(
    read: Callable[[Mapping[str, Any], Path, str, DatasetKeys], tuple[Any, list[SpecProblem]]],
) -> OptionsCheck:
    def check(options: Mapping[str, Any], folder: Path, url: str, keys: DatasetKeys) -> Sequence[SpecProblem]:
        return read(options, folder, url, keys)[1]

    return check


# What every kind takes: who it is, where it is, how calls to it behave and how they are secured.
COMMON: Final = frozenset(
    {
        "name",
        "kind",
        "description",
        "url",
        "timeout",
        "deadline",
        "max_attempts",
        "circuit_breaker",
        "tls",
        "options",
    }
)
# a registry reached directly (url, auth) or through an integration platform (platform, service)
THROUGH_PLATFORM: Final = frozenset({"auth", "platform", "service"})
AGENCY_CODE = {"agency_code": "the bus's own agency code as the system knows it"}


@dataclass(frozen=True, slots=True)
class KindSettings:
    """The entry keys of one kind, and its options (name: what it is, for messages)."""

    keys: frozenset[str] = COMMON
    options: Mapping[str, str] = field(default_factory=dict)
    # the system holds personal data: calls to it must authenticate (tls.client_cert or auth),
    # except on loopback (a demo, a test)
    authenticated: bool = False
    check: OptionsCheck | None = None


SUPPORTED: Final[Mapping[ConnectorKind, KindSettings]] = {
    "portal": KindSettings(
        options={
            **AGENCY_CODE,
            "username_env": "the environment variable holding the portal account's user name",
            "password_env": "the environment variable holding its password",
            "database_codes": "dataset names to the portal's MaCSDL codes",
            "codes": "the portal's status codes by meaning",
            "state_file": "the sync state's file",
            "auth_path": "the portal's login endpoint",
            "integration_path": "the portal's endpoint of the dossier services",
            "reconcile_every": "how often to reconcile with the portal",
            "reconcile_window": "how far back a reconciliation looks",
            "figures_every": "how often the scorecard figures are refreshed",
            "share_path": "the portal's endpoint of the catalogue services",
            "dstcode": "the dstcode header the portal's gateway routes by",
            "session_max_age": "how long a portal session is used before logging in again",
            "already_exists_message": "the text of the portal's 'already exists' reply",
            "envelope": "portal (the portal's own) or bridge (a provincial bridge's)",
            "bridge": "the bridge's URLs, query parameters and token (envelope: bridge)",
            "catalogue_every": "how often serve syncs the procedure catalogue from the portal",
            "catalogue_max_items": "the most items a catalogue reply may hold",
            "catalogue_file": "the procedure catalogue's file",
            "agency_names": "agency codes to the names the portal shows (DonViXuLy)",
            "dataset_components": "dataset names to the dossier components their records stand for",
            "data_store_datasets": "the datasets served by the citizen data store",
            "fee_kind_codes": "the events' fee kinds to the portal's LoaiPhiLePhi codes",
            "payment_method_codes": "the events' payment methods to the portal's HinhThucThu codes",
            "result_codes": "procedure codes to their result codes (MaGiayToKetQua)",
            "online_payment": "where dossiers are paid online: portal or gateway",
            "text_limits": "portal fields to their length caps",
            "status_policy": "forward (default) or strict: what to do with status moves the table does not list",
        }
    ),
    "citizen_store": KindSettings(
        keys=COMMON | {"auth"},
        authenticated=True,
        options={
            "trust_anchors": "a PEM file of the root CAs the agencies' signing certificates chain to",
            "revocation": "how revocation of signing certificates is checked (mode, crl_files, crl_urls, ...)",
        },
    ),
    "soap": KindSettings(keys=COMMON | THROUGH_PLATFORM, options=SOAP_OPTIONS, check=_problems_of(soap_spec)),
    "rest": KindSettings(keys=COMMON | THROUGH_PLATFORM, options=REST_OPTIONS, check=_problems_of(rest_spec)),
}
