"""The only module of ``exporter`` that imports ``collectors``: the built-in collectors as
the rest of the framework sees them (``collectors/__init__.py`` lists them)."""

from __future__ import annotations

from collectors import ALL, for_platform, names

__all__ = ["ALL", "for_platform", "names"]
