"""The road-transport registry's contract, as the agency publishes it: the WSDL and XSD shipped
beside this module, the XML namespace of its messages and the path its service answers at."""

from __future__ import annotations

from pathlib import Path

HERE = Path(__file__).resolve().parents[2] / "examples" / "contracts"
NAMESPACE = "urn:lienthong:sim:vehicle:v1"
WSDL = HERE / "vehicle.wsdl"
XSD = HERE / "vehicle.xsd"
PATH = "/vehicle"
