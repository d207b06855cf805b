"""``iscsictl -L``, the FreeBSD iSCSI initiator's session list, parsed once per scrape for
the ``iscsi`` collector and for ``gmultipath`` (which da device rides which session).

Format: usr.bin/iscsictl/iscsictl.c kernel_list, the non-verbose branch: a header
``Target name`` (``%-36s``) ``Target portal`` (``%-16s``) ``State``, then per session its
target (blank for a discovery session), portal and either the failure reason, ``Discovery``,
``Disabled``, ``Connected: da0 da1 `` (usr.bin/iscsictl/periphs.c, a blank after each
device) or ``Disconnected``.  ``-v`` is never used: it prints the CHAP secrets.
"""

from __future__ import annotations

import dataclasses

from exporter.api import CommandNotFound, Host, ParseError

ARGS = ("-L",)
SOURCE = "iscsictl -L"
TIMEOUT = 5.0
STATES = ("connected", "disconnected", "disabled", "discovery", "failed")


@dataclasses.dataclass(frozen=True)
class Session:
    target: str
    portal: str
    state: str  # one of STATES
    reason: str  # the failure reason when state is "failed", else ""
    devices: tuple[str, ...]  # da0, da1, ... when connected

    @property
    def up(self) -> bool:
        return self.state == "connected"


def parse_iscsictl_list(text: str) -> list[Session]:
    out: list[Session] = []
    for lineno, raw in enumerate(text.split("\n"), 1):
        line = raw.rstrip("\r")
        if not line.strip():
            continue
        words = line.split()
        if words[:2] == ["Target", "name"]:
            continue
        if line[0].isspace():  # a discovery session has no target name: blank column
            words = ["", *words]
        if len(words) < 3:
            raise ParseError(SOURCE, lineno, f"expected target, portal and state: {line[:80]!r}")
        target, portal, rest = words[0], words[1], words[2:]
        state_text = " ".join(rest)
        devices: tuple[str, ...] = ()
        reason = ""
        if rest[0] == "Connected:" or state_text == "Connected":
            state = "connected"
            devices = tuple(rest[1:])
        elif state_text in ("Disconnected", "Disabled", "Discovery"):
            state = state_text.lower()
        else:
            state, reason = "failed", state_text
        if not target and state != "discovery":
            raise ParseError(SOURCE, lineno, f"session without a target name: {line[:80]!r}")
        out.append(Session(target, portal, state, reason, devices))
    return out


def read_sessions(host: Host) -> list[Session] | None:
    """None when the initiator is absent (no iscsictl, no iscsi module)."""
    try:
        r = host.run("iscsictl", list(ARGS), timeout=TIMEOUT)
    except CommandNotFound:
        return None
    if r.returncode != 0:
        err = r.stderr.strip()
        if "/dev/iscsi" in err and "No such file or directory" in err:
            return None
        why = (err.splitlines() or ["no message"])[0][:200]
        raise RuntimeError(f"iscsictl -L: exit {r.returncode}: {why}")
    return parse_iscsictl_list(r.stdout)


def portal_address(portal: str) -> str:
    """``10.0.1.10``, ``10.0.1.10:3260``, ``[fd00::10]:3260`` -> the address (a host name
    stays as it is: it maps to no NIC)."""
    if portal.startswith("["):
        return portal[1:].partition("]")[0]
    host, colon, port = portal.rpartition(":")
    if colon and port.isdigit() and ":" not in host:
        return host
    return portal
