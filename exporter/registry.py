"""The only module of ``exporter`` that imports ``collectors``: the built-in collectors as
the rest of the framework sees them (``collectors/__init__.py`` lists them)."""

from __future__ import annotations

from collectors import ALL, _facts, for_platform, names

__all__ = ["ALL", "for_platform", "links", "names"]


def links(host, ctx):
    """The host's link table (name -> Link), as the collectors read it: for the check of
    declared members (--check-config)."""
    return _facts.links(host, ctx)
