"""Connector kinds configured, not coded: ``kind: soap`` (from a WSDL) and ``kind: rest`` (from an
OpenAPI document, or a URL template), whose requests, reply mappings and "not found" rules are
written in the configuration (docs/adapters.md, "Configured datasets")."""
