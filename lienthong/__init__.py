"""lienthong: the composition root (CLI, settings, wiring config into running parts)."""
