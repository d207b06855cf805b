"""The human view on the landing page: every group with its members, state and rates.

Plain server-rendered HTML from the families of the last two scrapes: no JavaScript, no
external assets.  Rates are the byte counters' change between the last two scrapes; the
peak is the sampler's highest rate since the scrape before.
"""

from __future__ import annotations

import html
from collections.abc import Sequence

from exporter.metrics import Family


def _by_labels(families: Sequence[Family], name: str) -> dict[tuple[str, ...], float]:
    for f in families:
        if f.name == name:
            return dict(zip(f.lvs, f.values))
    return {}


def _rate(b: float | None) -> str:
    if b is None:
        return "–"
    for unit, div in (("GB/s", 1e9), ("MB/s", 1e6), ("kB/s", 1e3)):
        if b >= div:
            return f"{b / div:.1f} {unit}"
    return f"{b:.0f} B/s"


def _speed(bytes_per_second: float | None) -> str:
    """Link speeds read best in bits, as the NIC is sold: 10 Gbit/s."""
    if not bytes_per_second:
        return "–"
    bits = bytes_per_second * 8
    for unit, div in (("Tbit/s", 1e12), ("Gbit/s", 1e9), ("Mbit/s", 1e6)):
        if bits >= div:
            return f"{bits / div:g} {unit}"
    return f"{bits:g} bit/s"


def render_groups(last: tuple[float, Sequence[Family]] | None, prev: tuple[float, Sequence[Family]] | None) -> str:
    if last is None:
        return "<h2>Groups</h2><p>No scrape yet.</p>"
    t1, fams = last
    info = _by_labels(fams, "lanes_group_info")
    total = _by_labels(fams, "lanes_group_members")
    up = _by_labels(fams, "lanes_group_members_up")
    member_up = _by_labels(fams, "lanes_member_up")
    rx = _by_labels(fams, "lanes_member_receive_bytes_total")
    tx = _by_labels(fams, "lanes_member_transmit_bytes_total")
    speed = _by_labels(fams, "lanes_member_speed_bytes")
    prx = _by_labels(fams, "lanes_member_receive_peak_bytes_per_second")
    ptx = _by_labels(fams, "lanes_member_transmit_peak_bytes_per_second")
    old_rx, old_tx, dt = {}, {}, None
    if prev is not None and prev[0] < t1:
        dt = t1 - prev[0]
        old_rx = _by_labels(prev[1], "lanes_member_receive_bytes_total")
        old_tx = _by_labels(prev[1], "lanes_member_transmit_bytes_total")

    def rate(now: dict, old: dict, key) -> float | None:
        if dt is None or key not in now or key not in old or now[key] < old[key]:
            return None
        return (now[key] - old[key]) / dt

    if not info:
        return "<h2>Groups</h2><p>No groups on this host (declare some under <code>groups:</code> in the config).</p>"
    rows = []
    degraded = 0
    for kind, group, policy, balancing in sorted(info):
        n_total = int(total.get((kind, group), 0))
        n_up = int(up.get((kind, group), 0))
        state = "ok" if n_up >= n_total and n_up > 0 else ("down" if n_up == 0 else "degraded")
        degraded += state != "ok"
        rows.append(
            f"<tr class='group {state}'><td>{html.escape(kind)}</td><td>{html.escape(group)}</td>"
            f"<td>{html.escape(policy)}</td><td>{html.escape(balancing)}</td>"
            f"<td class='state'>{state}</td><td>{n_up}/{n_total}</td><td colspan='4'></td></tr>"
        )
        for key in sorted(k for k in member_up if k[:2] == (kind, group)):
            m_state = "up" if member_up[key] else "down"
            sp = speed.get(key)
            rows.append(
                f"<tr class='member {m_state}'><td></td><td class='member-name'>{html.escape(key[2])}</td><td colspan='2'></td>"
                f"<td class='state'>{m_state}</td><td>{_speed(sp)}</td>"
                f"<td>{_rate(rate(rx, old_rx, key))}</td><td>{_rate(rate(tx, old_tx, key))}</td>"
                f"<td>{_rate(prx.get(key))}</td><td>{_rate(ptx.get(key))}</td></tr>"
            )
    summary = f"{len(info)} groups, {degraded} degraded or down" if degraded else f"{len(info)} groups, all members up"
    return (
        f"<h2>Groups</h2><p class='summary'>{summary}. Rates between the last two scrapes; peaks from the sampler.</p>"
        "<table class='groups'><tr><th>kind</th><th>group / member</th><th>policy</th><th>balancing</th><th>state</th>"
        "<th>up/total, speed</th><th>in</th><th>out</th><th>peak in</th><th>peak out</th></tr>"
        + "".join(rows)
        + "</table>"
    )
