"""IEEE 802.1AX (LACP) actor/partner port state bits and the checks derived from them,
shared by every technology that speaks LACP: Linux bonding (802.3ad mode), teamd's lacp
runner, illumos dladm aggregations (and FreeBSD lagg).

The state octet is the Actor_State / Partner_State field of an LACPDU (IEEE 802.1AX-2014
6.4.2.3); Linux names the bits in include/net/bond_3ad.h (LACP_STATE_*), teamd prints the
octet in its state dump, dladm show-aggr -L prints the bits one by one.
"""

from __future__ import annotations

from collections.abc import Iterable

#: (name, mask) in bit order: the names are those of lanes' *_lacp_state series
LACP_BITS = (
    ("activity", 0x01),
    ("timeout", 0x02),  # 1 = short (fast) timeout
    ("aggregation", 0x04),
    ("synchronization", 0x08),
    ("collecting", 0x10),
    ("distributing", 0x20),
    ("defaulted", 0x40),  # no LACPDU from a partner: partner info are defaults
    ("expired", 0x80),
)
ACTIVITY, TIMEOUT, AGGREGATION, SYNC, COLLECTING, DISTRIBUTING, DEFAULTED, EXPIRED = (m for _, m in LACP_BITS)
#: a port in sync that collects and distributes: it carries traffic
IN_SERVICE = SYNC | COLLECTING | DISTRIBUTING
#: the partner system of a port that never heard a partner
ZERO_MAC = "00:00:00:00:00:00"


def state_from_bits(bits: dict[str, bool | None]) -> int | None:
    """A state octet from named bits (dladm's per-bit columns); None if any bit is unknown."""
    state = 0
    for name, mask in LACP_BITS:
        if name not in bits:
            continue
        v = bits[name]
        if v is None:
            return None
        if v:
            state |= mask
    return state


def has(state: int | None, bits: int) -> bool | None:
    """All of ``bits`` set in ``state``; None when the state is unknown."""
    return None if state is None else (state & bits) == bits


def collecting_distributing(state: int) -> bool:
    """The mux is in COLLECTING_DISTRIBUTING: the port carries traffic."""
    return state & (COLLECTING | DISTRIBUTING) == COLLECTING | DISTRIBUTING


def in_sync(actor: int, partner: int | None) -> bool:
    """Actor, and partner when known, in sync and collecting and distributing (a port in
    the aggregator but idle shows e.g. actor 15 and partner 55)."""
    return actor & IN_SERVICE == IN_SERVICE and (partner is None or partner & IN_SERVICE == IN_SERVICE)


def timeout_mismatch(actor: int, partner: int) -> bool:
    """Actor and partner disagree on the LACP timeout (fast vs slow).  Never while the
    actor's partner information is defaulted: those bits are the local defaults."""
    if actor & DEFAULTED:
        return False
    return bool(actor & TIMEOUT) != bool(partner & TIMEOUT)


def partner_systems(systems: Iterable[str | None]) -> set[str]:
    """The distinct real partner systems (MACs) among ``systems``."""
    return {s for s in systems if s and s != ZERO_MAC}


def no_partner_system(systems: Iterable[str]) -> bool:
    """Every one of ``systems`` (known partner MACs) is the zero MAC: no partner."""
    return all(s == ZERO_MAC for s in systems)
