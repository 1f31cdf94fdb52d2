"""The contracts: JSON Schema files by event type and version, and the registry that loads them."""
