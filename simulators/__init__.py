"""Stand-ins for the agency systems the bus talks to, and the material of the demo: real HTTP and
SOAP servers on one seeded dataset, with fault flags (``lienthong simulate``, ``lienthong demo``,
the tests and the benchmarks).

Production code never imports this package: a connector takes its outside system's contract from
``connectors/<system>/`` (``protocol.py``), or from the configuration (a configured registry's WSDL,
named by the example configuration in ``simulators/contracts/``, which its simulator serves),
never from a simulator.
"""
