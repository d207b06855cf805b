"""Storage path roles handed from the multipath collector to the iSCSI collector (SPEC §12:
an iSCSI target group takes its balancing and preference from the maps that ride its
sessions).

The multipath collector publishes, every run, sdX -> (preferred, balancing of its map) for
the scrape (a box in the scrape's facts, ctx.facts) and keeps the last ones per host.  The
iSCSI collector waits a bounded moment for this scrape's, then takes the last: neither
collector ever waits on the other's sources (a stuck multipathd holds up only the
multipath collector).
"""

from __future__ import annotations

import threading
import weakref

Roles = dict  # sdX -> (preferred, balancing)

#: key of the box in the scrape's facts
SHARED_KEY = "multipath_path_roles"

_last: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()  # host -> Roles of the last run
_lock = threading.Lock()


class RolesBox:
    """This scrape's roles, set once by the multipath collector."""

    def __init__(self) -> None:
        self._done = threading.Event()
        self.roles: Roles | None = None

    def set(self, roles: Roles) -> None:
        self.roles = roles
        self._done.set()

    def wait(self, timeout: float) -> Roles | None:
        return self.roles if self._done.wait(timeout) else None


def enable(host) -> None:
    """The multipath collector runs on ``host``: the iSCSI collector may wait for it."""
    with _lock:
        _last.setdefault(host, {})


def publish(host, ctx, roles: Roles) -> None:
    with _lock:
        _last[host] = dict(roles)
    ctx.facts.once(SHARED_KEY, RolesBox).set(roles)


def publish_failed(host, ctx) -> None:
    """The multipath collector failed this scrape: hand over its last roles at once."""
    with _lock:
        last = dict(_last.get(host, {}))
    ctx.facts.once(SHARED_KEY, RolesBox).set(last)


def roles_for(host, ctx, timeout: float = 1.0) -> Roles:
    """This scrape's roles when the multipath collector has them within ``timeout``
    seconds, else its last run's; {} when no multipath collector runs on ``host``."""
    with _lock:
        if host not in _last:
            return {}
    roles = ctx.facts.once(SHARED_KEY, RolesBox).wait(timeout)
    if roles is not None:
        return roles
    with _lock:
        return dict(_last.get(host, {}))
