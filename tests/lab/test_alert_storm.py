"""One fault, one notification (SPEC §12), through the real pipeline.

A storage initiator with 10 dm-multipath maps, each over 2 iSCSI sessions (one per NIC, eth0
and eth1; every map its own target, ALUA active/optimized on both paths), in the kernel's
sysfs layout with the multipathd reply (bench/gen.py, the generator of the large storage
host).  lanes serves it (``--snapshot``; the snapshot's files are re-read every scrape), a
real Prometheus scrapes it every second and evaluates the shipped rules (rendered with short
``for:``), a real Alertmanager runs the shipped deploy/alertmanager/alertmanager.yml (webhook
URLs pointed at this test, group timers shortened in the same proportions), and a webhook
receiver here counts notifications.

Then eth0 fails: its carrier goes, the 10 iSCSI sessions over it go FAILED, their SCSI
devices blocked, multipathd marks the 10 paths failed.  20 groups lose a lane (10 maps and
the 10 targets behind them), and the rules raise 20 LanesGroupNoRedundancy (critical),
20 LanesMemberDown and, a little later (longer ``for:``), 20 LanesGroupDegraded (warning).
The host must get exactly one critical and one warning notification, both naming eth0
(``netdev`` common to all their alerts) and listing the 20 groups; nothing more while the
fault lasts, Degraded included.  eth0 back: one resolved notification per receiver.

The counts are printed (``pytest -s``).  Wall time about 45 s.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import shutil
import sys
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import helpers
import pytest
import rules_tools as rt
import yaml
from conftest import ROOT

pytestmark = pytest.mark.tools  # real Prometheus and Alertmanager; no root or namespaces needed

MAPS = 10
#: rules for the lab: the shipped for: durations scaled down, LanesGroupDegraded kept longer
#: than LanesMemberDown as shipped (2m vs 1m) so that it arrives after the first notification
LAB_FOR = {"LanesMemberDown": "2s", "LanesGroupNoRedundancy": "2s", "LanesGroupDown": "2s", "LanesGroupDegraded": "6s", "LanesMultipathQueueingWithoutPaths": "2s"}
#: Alertmanager timers, in the shipped proportions (30s / 5m): group_wait covers the spread of
#: one fault's alerts (one scrape here), group_interval is what a second notification would wait
GROUP_WAIT, GROUP_INTERVAL = "2s", "5s"


class Webhook(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self):
        super().__init__(("127.0.0.1", 0), _Handler)
        self.lock = threading.Lock()
        self.received: list[tuple[float, str, dict]] = []

    def notifications(self, since: float = 0.0, status: str | None = None) -> list[tuple[float, str, dict]]:
        with self.lock:
            return [(t, p, n) for t, p, n in self.received if t >= since and (status is None or n.get("status") == status)]


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self):  # noqa: N802 (http.server API)
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        with self.server.lock:
            self.server.received.append((time.time(), self.path, json.loads(body)))
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def generate_host(directory: str) -> str:
    sys.path.insert(0, os.path.join(ROOT, "bench"))
    try:
        import gen
    finally:
        sys.path.remove(os.path.join(ROOT, "bench"))
    return gen.generate(directory, nics=2, bonds=0, maps=MAPS, paths=2)


def fail_nic(snapshot: str, nic: str, failed: bool) -> int:
    """What the kernel and multipathd show when NIC ``nic`` loses its link: carrier and
    operstate (sysfs-class-net), the iSCSI sessions over it FAILED and their connections
    down (scsi_transport_iscsi.c), their SCSI devices blocked (scsi_sysfs.c), multipathd's
    paths failed/faulty.  Returns the sessions touched."""
    root = os.path.join(snapshot, "root")
    link = os.path.join(root, "sys/class/net", nic)
    d = os.path.join(os.path.dirname(link), os.readlink(link)) if os.path.islink(link) else link
    _write(os.path.join(d, "operstate"), "down" if failed else "up")
    _write(os.path.join(d, "carrier"), "0" if failed else "1")
    devs, touched = set(), 0
    for host_netdev in glob.glob(os.path.join(root, "sys/devices/platform/host*/iscsi_host/host*/netdev")):
        with open(host_netdev) as f:
            if f.read().strip() != nic:
                continue
        hostdir = host_netdev.split("/iscsi_host/")[0]
        for state in glob.glob(os.path.join(hostdir, "session*/iscsi_session/session*/state")):
            _write(state, "FAILED" if failed else "LOGGED_IN")
            touched += 1
        for state in glob.glob(os.path.join(hostdir, "session*/connection*/iscsi_connection/*/state")):
            _write(state, "down" if failed else "up")
        for state in glob.glob(os.path.join(hostdir, "session*/target*/*:*/state")):
            _write(state, "blocked" if failed else "running")
            devs.update(os.listdir(os.path.join(os.path.dirname(state), "block")))
    path = os.path.join(snapshot, "commands", "multipathd_show_maps_json.out")
    with open(path) as f:
        doc = json.load(f)
    for m in doc["maps"]:
        for g in m["path_groups"]:
            for p in g["paths"]:
                if p["dev"] in devs:
                    p["dm_st"], p["chk_st"] = ("failed", "faulty") if failed else ("active", "ready")
    _write(path, json.dumps(doc, indent=3))
    return touched


def _write(path: str, text: str) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        f.write(text + "\n")
    os.replace(tmp, path)


@pytest.fixture(scope="module")
def pipeline():
    prometheus = helpers.require_tool("prometheus")
    alertmanager = helpers.require_tool("prometheus-alertmanager")
    tmp = tempfile.mkdtemp(prefix="lanes-storm-")
    procs: list[rt.Proc] = []
    hook = Webhook()
    threading.Thread(target=hook.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True).start()
    try:
        snap = generate_host(os.path.join(tmp, "host"))
        ports = {k: rt.free_port() for k in ("lanes", "prometheus", "alertmanager")}
        lanes = rt.Proc(
            [sys.executable, "-m", "exporter", "--snapshot", snap, "--collector.disable-defaults", "--collector.link",
             "--collector.multipath", "--collector.iscsi", "--sampler.interval", "0", "--web.listen-address", f"127.0.0.1:{ports['lanes']}"],
            os.path.join(tmp, "lanes.log"),
            cwd=ROOT,
        )  # fmt: skip
        procs.append(lanes)
        rt.ready(lanes, f"http://127.0.0.1:{ports['lanes']}/metrics", None)
        with open(rt.ALERTMANAGER_YML, encoding="utf-8") as f:
            am_cfg = yaml.safe_load(f)
        for r in am_cfg["receivers"]:
            for w in r.get("webhook_configs", []):
                w["url"] = f"http://127.0.0.1:{hook.server_address[1]}/{r['name']}"
        am_cfg["route"].update({"group_wait": GROUP_WAIT, "group_interval": GROUP_INTERVAL})
        with open(os.path.join(tmp, "alertmanager.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(am_cfg, f)
        procs.append(rt.start_alertmanager(alertmanager, os.path.join(tmp, "alertmanager.yml"), tmp, ports["alertmanager"]))
        mod = rt.load_rules_module()
        with open(os.path.join(tmp, "lanes-rules.yml"), "w", encoding="utf-8") as f:
            f.write(mod.render(mod.Params(rate_window="10s", for_=tuple(LAB_FOR.items()))))
        prom_cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(tmp, "lanes-rules.yml")],
            "alerting": {"alertmanagers": [{"static_configs": [{"targets": [f"127.0.0.1:{ports['alertmanager']}"]}]}]},
            "scrape_configs": [{"job_name": "lanes", "static_configs": [{"targets": [f"127.0.0.1:{ports['lanes']}"]}]}],
        }
        with open(os.path.join(tmp, "prometheus.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(prom_cfg, f)
        procs.append(rt.start_prometheus(prometheus, os.path.join(tmp, "prometheus.yml"), tmp, ports["prometheus"]))
        prom = f"http://127.0.0.1:{ports['prometheus']}"
        rt.wait_until(
            f"{2 * MAPS} groups with 2 members up",
            lambda: len(rt.query(prom, 'lanes_group_members_up{kind=~"multipath|iscsi"} == 2')) == 2 * MAPS,
            30,
        )
        yield {"snapshot": snap, "prom": prom, "am": f"http://127.0.0.1:{ports['alertmanager']}", "hook": hook, "procs": procs}
    finally:
        hook.shutdown()
        hook.server_close()
        for p in reversed(procs):
            with contextlib.suppress(Exception):
                p.stop()
        shutil.rmtree(tmp, ignore_errors=True)


def test_one_nic_failure_is_one_critical_and_one_warning_notification(pipeline):
    hook, am = pipeline["hook"], pipeline["am"]
    time.sleep(3)
    assert hook.notifications() == [], f"a healthy host notifies nothing: {hook.notifications()}"

    down_at = time.time()
    assert fail_nic(pipeline["snapshot"], "eth0", True) == MAPS

    def all_alerts_in_alertmanager():
        got = rt.get_json(f"{am}/api/v2/alerts")
        names = [a["labels"]["alertname"] for a in got]
        want = {"LanesGroupNoRedundancy": 2 * MAPS, "LanesMemberDown": 2 * MAPS, "LanesGroupDegraded": 2 * MAPS}
        return got if all(names.count(k) == n for k, n in want.items()) else None

    alerts = rt.wait_until("60 alerts of the NIC failure in Alertmanager", all_alerts_in_alertmanager, 45)
    assert all(a["labels"].get("netdev") == "eth0" for a in alerts), [a["labels"] for a in alerts if a["labels"].get("netdev") != "eth0"]
    degraded = [a for a in alerts if a["labels"]["alertname"] == "LanesGroupDegraded"]
    assert all(a["status"]["state"] == "suppressed" for a in degraded), degraded[:2]
    # the last alert (Degraded) has arrived; give a second notification every chance to go out
    time.sleep(2 * float(GROUP_INTERVAL[:-1]) + float(GROUP_WAIT[:-1]))
    firing = hook.notifications(down_at, "firing")
    by_receiver = {}
    for _, path, n in firing:
        by_receiver.setdefault(path, []).append(n)
    summary = {p: [len(n["alerts"]) for n in ns] for p, ns in by_receiver.items()}
    print(f"\nNIC eth0 down under {MAPS} maps: firing notifications per receiver (alerts in each): {summary}")
    assert sorted(by_receiver) == ["/lanes-page", "/lanes-ticket"], summary
    assert len(by_receiver["/lanes-page"]) == 1 and len(by_receiver["/lanes-ticket"]) == 1, summary
    page, ticket = by_receiver["/lanes-page"][0], by_receiver["/lanes-ticket"][0]
    for n in (page, ticket):
        # the notification names the host and the NIC, and lists every group that lost a lane
        assert n["commonLabels"].get("netdev") == "eth0" and n["groupLabels"].get("instance"), n["commonLabels"]
    assert all("(over NIC eth0)" in a["annotations"]["description"] for a in page["alerts"] + ticket["alerts"])
    assert {a["labels"]["alertname"] for a in page["alerts"]} == {"LanesGroupNoRedundancy"}
    assert len({(a["labels"]["kind"], a["labels"]["group"]) for a in page["alerts"]}) == 2 * MAPS
    assert {a["labels"]["alertname"] for a in ticket["alerts"]} == {"LanesMemberDown"}
    assert len({(a["labels"]["kind"], a["labels"]["group"]) for a in ticket["alerts"]}) == 2 * MAPS

    up_at = time.time()
    fail_nic(pipeline["snapshot"], "eth0", False)

    def resolved_both():
        got = {p for _, p, n in hook.notifications(up_at, "resolved")}
        return got == {"/lanes-page", "/lanes-ticket"}

    rt.wait_until("resolved notifications", resolved_both, 45)
    time.sleep(float(GROUP_INTERVAL[:-1]) + 1)
    resolved = [(p, len(n["alerts"])) for _, p, n in hook.notifications(up_at, "resolved")]
    again = hook.notifications(up_at, "firing")
    print(f"eth0 back: resolved notifications {resolved}; firing {len(again)}")
    assert not again
    assert sorted(p for p, _ in resolved) == ["/lanes-page", "/lanes-ticket"], resolved
