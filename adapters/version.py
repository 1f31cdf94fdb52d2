"""The installed version of lienthong, as the packaging metadata gives it (pyproject.toml)."""

from __future__ import annotations

from importlib import metadata


def package_version(default: str = "0") -> str:
    """``default`` when the package is not installed (run from a source tree)."""
    try:
        return metadata.version("lienthong")
    except metadata.PackageNotFoundError:
        return default
