"""Concrete outside systems, one folder each (connector, mapping, simulator)."""
