"""Scrubbing for support bundles (``--record DIR --record.scrub``).

Hostnames, iSCSI and NVMe qualified names, MAC addresses and IP addresses are replaced
by placeholders, consistently: within one recording the same input always maps to the
same placeholder, so the topology (which path runs over which NIC to which portal)
survives.  Placeholders come from ranges reserved for documentation and testing:
198.18.0.0/15 (RFC 2544), 2001:db8::/32 (RFC 3849), locally administered MACs
02:00:00:xx:xx:xx, the ``.invalid`` TLD (RFC 2606).  Loopback, unspecified, broadcast
and all-zero values are kept: they identify nothing.
"""

from __future__ import annotations

import ipaddress
import re
import threading

_IQN = re.compile(r"\biqn\.\d{4}-\d{2}\.[A-Za-z0-9][A-Za-z0-9.\-]*(?::[^\s,;\"'<>()\[\]{}]+)?")
_NQN = re.compile(r"\bnqn\.\d{4}-\d{2}\.[A-Za-z0-9][^\s,;\"'<>()\[\]{}]*")
_MAC = re.compile(r"(?<![0-9A-Fa-f:])[0-9A-Fa-f]{1,2}(?:(?:\\?:)[0-9A-Fa-f]{1,2}){5}(?![0-9A-Fa-f:])")
#: IEEE style (upper-case, dashes), as FreeBSD ifconfig prints LACP system IDs (iflagg.c)
_MAC_DASH = re.compile(r"(?<![0-9A-Fa-f-])[0-9A-Fa-f]{2}(?:-[0-9A-Fa-f]{2}){5}(?![0-9A-Fa-f-])")
_IPV4 = re.compile(r"(?<![\d.])(?:\d{1,3}\.){3}\d{1,3}(?![\d.])")
_IPV6 = re.compile(r"(?<![0-9A-Fa-f:.])(?:[0-9A-Fa-f]{0,4}(?:\\?:)){2,7}[0-9A-Fa-f]{0,4}(?![0-9A-Fa-f:])")
_KEEP_NQN = ("nqn.2014-08.org.nvmexpress.discovery",)


class Scrubber:
    def __init__(self, hostnames: list[str] | tuple[str, ...] = ()):
        self._maps: dict[str, dict[str, str]] = {k: {} for k in ("host", "iqn", "nqn", "mac", "v4", "v6")}
        self._lock = threading.Lock()
        names = sorted({h for h in hostnames if h and h not in ("localhost",)}, key=len, reverse=True)
        self._host = re.compile("|".join(rf"(?<![\w.-]){re.escape(h)}(?![\w-])" for h in names)) if names else None

    def _placeholder(self, kind: str, value: str, make) -> str:
        with self._lock:
            table = self._maps[kind]
            got = table.get(value)
            if got is None:
                got = table[value] = make(len(table) + 1)
            return got

    def _mac(self, m: re.Match) -> str:
        raw = m.group(0)
        escaped = "\\:" in raw
        octets = [int(x, 16) for x in raw.replace("\\:", ":").split(":")]
        if all(o == 0 for o in octets) or all(o == 0xFF for o in octets):
            return raw
        key = ":".join(f"{o:02x}" for o in octets)
        new = self._placeholder("mac", key, lambda n: f"02:00:00:{(n >> 16) & 0xFF:02x}:{(n >> 8) & 0xFF:02x}:{n & 0xFF:02x}")
        return new.replace(":", "\\:") if escaped else new

    def _mac_dash(self, m: re.Match) -> str:
        """The same placeholder as the colon form of the MAC, written back in dash form."""
        raw = m.group(0)
        new = self._mac(_MAC.match(raw.replace("-", ":")))
        return new.replace(":", "-").upper() if raw.isupper() or not any(c.isalpha() for c in raw) else new.replace(":", "-")

    def _v4(self, m: re.Match) -> str:
        raw = m.group(0)
        try:
            ip = ipaddress.IPv4Address(raw)
        except ValueError:
            return raw  # 999.1.2.3 is not an address (a version string, a counter)
        if ip.is_loopback or ip.is_unspecified or raw.startswith("255.") or ip in ipaddress.IPv4Network("198.18.0.0/15"):
            return raw
        return self._placeholder("v4", raw, lambda n: str(ipaddress.IPv4Address("198.18.0.0") + n))

    def _v6(self, m: re.Match) -> str:
        raw = m.group(0)
        escaped = "\\:" in raw
        text = raw.replace("\\:", ":")
        if len(text) < 6:  # "d::" in "std::string" parses, but is no address anyone wrote
            return raw
        try:
            ip = ipaddress.IPv6Address(text)
        except ValueError:
            return raw
        if ip.is_loopback or ip.is_unspecified or ip in ipaddress.IPv6Network("2001:db8::/32"):
            return raw
        base = "fe80::" if ip.is_link_local else "2001:db8::"
        new = self._placeholder("v6", ip.compressed, lambda n: str(ipaddress.IPv6Address(base) + n))
        return new.replace(":", "\\:") if escaped else new

    def __call__(self, text: str) -> str:
        if not text:
            return text
        if self._host is not None:
            text = self._host.sub(lambda m: self._placeholder("host", m.group(0), lambda n: f"host-{n}"), text)
        text = _IQN.sub(lambda m: self._placeholder("iqn", m.group(0), lambda n: f"iqn.2000-01.invalid.scrubbed:target-{n}"), text)
        text = _NQN.sub(
            lambda m: m.group(0) if m.group(0) in _KEEP_NQN else self._placeholder("nqn", m.group(0), lambda n: f"nqn.2000-01.invalid.scrubbed:subsys-{n}"),
            text,
        )
        text = _MAC.sub(self._mac, text)
        text = _MAC_DASH.sub(self._mac_dash, text)
        text = _IPV6.sub(self._v6, text)
        text = _IPV4.sub(self._v4, text)
        return text
