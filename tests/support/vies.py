"""A stand-in for the EU VIES checkVat service, answering per its public WSDL
(examples/contracts/checkVatService.wsdl, as published by the European Commission), including its SOAP faults.

Like the real service, faults are ``soap:Server`` faults whose faultstring is the error code
(INVALID_INPUT, MS_UNAVAILABLE, TIMEOUT, ...). ``fail_next`` queues fault codes to answer the
next requests with; an invalid country code or number is INVALID_INPUT.
"""

from __future__ import annotations

import datetime
import re

from lxml import etree
from starlette.types import ASGIApp

from simulators.server import Faults, SimulatorState, simulator_app
from simulators.soap_service import SoapFault, build, required, soap_routes
from tests.support.paths import EXAMPLES

WSDL = EXAMPLES / "contracts" / "checkVatService.wsdl"
TYPES = "urn:ec.europa.eu:taxud:vies:services:checkVat:types"
PATH = "/taxation_customs/vies/services/checkVatService"
# the numbers this stand-in knows as registered
REGISTERED = {("BE", "0403170701"): ("SA ODOO", "Chaussée de Namur 40\n1367 Ramillies")}


class Vies:
    def __init__(self) -> None:
        self.fail_next: list[str] = []

    def check_vat(self, request: etree._Element) -> etree._Element:
        if self.fail_next:
            raise SoapFault("Server", self.fail_next.pop(0))
        country = required(request, "countryCode")
        number = required(request, "vatNumber")
        if not re.fullmatch("[A-Z]{2}", country) or not re.fullmatch("[0-9A-Za-z+*.]{2,12}", number):
            raise SoapFault("Server", "INVALID_INPUT")
        found = REGISTERED.get((country, number))
        reply = {
            "countryCode": country,
            "vatNumber": number,
            "requestDate": datetime.date(2024, 5, 1).isoformat() + "+02:00",
            "valid": found is not None,
            "name": found[0] if found else "---",
            "address": found[1] if found else "---",
        }
        return build(TYPES, "checkVatResponse", reply)


def create_app(vies: Vies, faults: Faults | None = None) -> tuple[ASGIApp, SimulatorState]:
    return simulator_app(soap_routes(PATH, WSDL, {"checkVat": vies.check_vat}), faults or Faults())
