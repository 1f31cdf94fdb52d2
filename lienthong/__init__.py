"""lienthong: the composition root (CLI, settings, wiring config into running parts)."""

__version__ = "0.1.0"
