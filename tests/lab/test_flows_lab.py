"""Cars and lanes, live (SPEC §13): the flows collector and LanesFlowAtLaneLimit against
real connections, the kernel's policy routing and a real Prometheus.

Two network namespaces made here (``lanes-lab-flowsh-*``, ``lanes-lab-flowsp-*``): H (the
initiator, running lanes and Prometheus) and P (the target, running iperf3 servers on the
iSCSI port 3260), joined by two veth pairs l0-r0 and l1-r1 (ULA addresses), shaped on H's
side with tc tbf to 8 Mbit/s (1,000,000 bytes/s).  lanes declares the group ``lab`` of l0
and l1 (``speed_bytes: 1030000``: veths report no speed).

The two target addresses S0 and S1 live on P's loopback.  H's main table sends both via
l0; a policy rule sends what comes *from* H's l1 address through l1 (table 102), as iSCSI
setups with one subnet do.  A longest-prefix match of the main table would put every flow
on l0; the kernel's answer (what lanes asks, RTM_GETROUTE with the source) does not.

1. A non-storage iperf3 stream on port 5201 is not exported.
2. One stream H:l0 -> S0:3260 (iperf3 also keeps its control connection on 3260): every
   iscsi flow leaves by l0 and rides member l0; the data connection's bytes in lanes lie
   between ``ss -ti`` readings taken just before and after a scrape;
   LanesFlowAtLaneLimit fires in Prometheus while l1 idles, and the finding
   flows_on_one_member names l0.
3. A second stream from H's l1 address to S1:3260: two busy flows on two lanes (the second
   on l1 through the policy rule); both lanes are full now, the alert resolves and the
   finding is gone.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time

import helpers
import pytest
import rules_tools as rt
import yaml
from conftest import ROOT

from lab.netns import Netns, can_use_namespaces, shape, up, veth_pair, wait_oper_up

pytestmark = pytest.mark.lab

SPEED_BYTES = 1_030_000  # a full 8 Mbit/s tbf lane measures 0.95-0.99 MB/s: >= 90% of this
H_ADDR = {"l0": "fd6c:616e:6573:f1::1", "l1": "fd6c:616e:6573:f2::1"}
P_ADDR = {"r0": "fd6c:616e:6573:f1::2", "r1": "fd6c:616e:6573:f2::2"}
S0, S1 = "fd6c:616e:6573:f9::10", "fd6c:616e:6573:f9::11"
PORTS = {"lanes": 10147, "prometheus": 9090}


def _exposition(text: str, name: str) -> list[tuple[dict, float]]:
    out = []
    for line in text.splitlines():
        if line.startswith(name + "{"):
            labels = dict(re.findall(r'(\w+)="([^"]*)"', line[len(name) :].rsplit("}", 1)[0]))
            out.append((labels, float(line.rsplit(" ", 1)[1])))
    return out


def ss_bytes_acked(h: Netns) -> dict[tuple[str, str], int]:
    """{(local, remote): bytes_acked} of H's established connections to port 3260 (ss(8))."""
    out = h.exec(["ss", "-tinH", "state", "established", "( dport = :3260 )"]).stdout
    res: dict[tuple[str, str], int] = {}
    key = None
    for line in out.splitlines():
        if line and not line[0].isspace():
            w = line.split()
            key = (w[-2], w[-1])  # Recv-Q Send-Q Local Peer (state column omitted with a state filter)
        elif key is not None:
            m = re.search(r"\bbytes_acked:(\d+)", line)
            if m:
                res[key] = int(m.group(1))
    return res


@pytest.fixture(scope="module")
def lab():
    ok, why = can_use_namespaces()
    helpers.require(ok, why)
    iperf3 = helpers.require_tool("iperf3")
    prometheus = helpers.require_tool("prometheus")
    helpers.require_tool("ss")
    tmp = tempfile.mkdtemp(prefix="lanes-flows-lab-")
    os.chmod(tmp, 0o755)
    h = Netns("flowsh")
    p = Netns("flowsp")
    procs: list[rt.Proc] = []
    try:
        for i in ("0", "1"):
            veth_pair(h, f"l{i}", p, f"r{i}")
            up(h, f"l{i}", f"{H_ADDR['l' + i]}/64")
            up(p, f"r{i}", f"{P_ADDR['r' + i]}/64")
            shape(h, f"l{i}", "8mbit")
        for s in (S0, S1):
            p.ip("-6", "addr", "add", f"{s}/128", "dev", "lo")
        for s in (S0, S1):  # main table: both targets via l0
            h.ip("-6", "route", "add", f"{s}/128", "via", P_ADDR["r0"], "dev", "l0")
        h.ip("-6", "rule", "add", "from", H_ADDR["l1"], "lookup", "102", "pref", "100")
        h.ip("-6", "route", "add", "default", "via", P_ADDR["r1"], "dev", "l1", "table", "102")
        for i in ("0", "1"):
            wait_oper_up(h, f"l{i}")
        cfg = {
            "groups": {"lab": {"members": ["l0", "l1"], "balancing": "load", "speed_bytes": SPEED_BYTES}},
            "collectors": {"link": {"include": "^l[01]$"}},
            "sampler": {"interval": "200ms"},
        }
        conf = os.path.join(tmp, "lanes.yml")
        with open(conf, "w", encoding="utf-8") as f:
            yaml.safe_dump(cfg, f)
        lanes_argv = [sys.executable, "-m", "exporter", "--config.file", conf, "--collector.disable-defaults", "--collector.link", "--collector.groups", "--collector.flows"]
        procs.append(rt.Proc([*lanes_argv, "--web.listen-address", f"127.0.0.1:{PORTS['lanes']}"], os.path.join(tmp, "lanes.log"), h.name, cwd=ROOT))
        rt.wait_until("lanes to answer", lambda: rt.http_request("GET", f"http://127.0.0.1:{PORTS['lanes']}/metrics", netns=h.name, timeout=3)[0] == 200, 30)
        mod = rt.load_rules_module()
        rules = mod.render(mod.Params(rate_window="10s", for_=(("LanesFlowAtLaneLimit", "5s"),)))
        with open(os.path.join(tmp, "rules.yml"), "w", encoding="utf-8") as f:
            f.write(rules)
        prom_cfg = {
            "global": {"scrape_interval": "1s", "evaluation_interval": "1s"},
            "rule_files": [os.path.join(tmp, "rules.yml")],
            "scrape_configs": [{"job_name": "lanes", "static_configs": [{"targets": [f"127.0.0.1:{PORTS['lanes']}"]}]}],
        }
        with open(os.path.join(tmp, "prometheus.yml"), "w", encoding="utf-8") as f:
            yaml.safe_dump(prom_cfg, f)
        procs.append(rt.start_prometheus(prometheus, os.path.join(tmp, "prometheus.yml"), tmp, PORTS["prometheus"], netns=h.name))
        base = f"http://127.0.0.1:{PORTS['prometheus']}"
        rt.wait_until("both members up in Prometheus", lambda: len(rt.query(base, 'lanes_member_up{group="lab"} == 1', netns=h.name)) == 2, 30)
        servers = {}
        for name, addr, port in (("s0", S0, 3260), ("s1", S1, 3260), ("other", S0, 5201)):
            servers[name] = p.popen([iperf3, "-s", "-p", str(port), "-B", addr], log=os.path.join(tmp, f"iperf3-{name}.log"))
        time.sleep(0.5)
        yield {"h": h, "p": p, "tmp": tmp, "prom": base, "iperf3": iperf3, "lanes_argv": lanes_argv}
    finally:
        for proc in procs:
            with contextlib.suppress(Exception):
                proc.stop()
        h.close()
        p.close()
        shutil.rmtree(tmp, ignore_errors=True)


def client(lab, dst: str, port: int, src: str, seconds: int) -> subprocess.Popen:
    return lab["h"].popen([lab["iperf3"], "-c", dst, "-p", str(port), "-B", src, "-t", str(seconds), "-i", "0"])


def scrape(lab) -> str:
    return rt.http_request("GET", f"http://127.0.0.1:{PORTS['lanes']}/metrics", netns=lab["h"].name, timeout=10)[1].decode()


def firing(lab, **labels) -> list[dict]:
    sel = ",".join(f'{k}="{v}"' for k, v in labels.items())
    return rt.query(lab["prom"], f'ALERTS{{alertname="LanesFlowAtLaneLimit",alertstate="firing"{"," + sel if sel else ""}}}', netns=lab["h"].name)


def test_flows_live(lab):
    h = lab["h"]
    # 1. a non-storage stream is not exported
    other = client(lab, S0, 5201, H_ADDR["l0"], 4)
    try:
        rt.wait_until("the 5201 stream to run", lambda: any(":5201" in line for line in h.exec(["ss", "-tnH", "state", "established"]).stdout.splitlines()), 10)
        body = scrape(lab)
        assert 'lanes_collector_success{collector="flows"} 1' in body
        assert ":5201" not in body, "a port 5201 flow was exported"
    finally:
        h.stop(other)
    time.sleep(1)

    # 2. one stream on l0: its flows ride l0; bytes between ss readings; the alert fires
    one = client(lab, S0, 3260, H_ADDR["l0"], 120)
    two = None
    try:
        rt.wait_until("the iscsi stream in lanes", lambda: any(v > 500_000 for _, v in _exposition(scrape(lab), "lanes_flow_transmit_bytes_total")), 20)
        flows = _exposition(scrape(lab), "lanes_flow_info")
        iscsi = [lb for lb, _ in flows if lb["protocol"] == "iscsi"]
        assert iscsi and all(lb["netdev"] == "l0" and lb["kind"] == "declared" and lb["group"] == "lab" and lb["member"] == "l0" for lb in iscsi), flows
        assert all(lb["remote"] == f"[{S0}]:3260" and lb["local"].startswith(f"[{H_ADDR['l0']}]:") for lb in iscsi), iscsi
        one_lane = 'lanes_finding{check="flows_on_one_member",severity="warning",kind="declared",group="lab",subject="l0"} 1'
        assert one_lane in scrape(lab), "every flow of the load group on l0 is a finding"

        before = ss_bytes_acked(h)
        r = subprocess.run(
            ["ip", "netns", "exec", h.name, *lab["lanes_argv"], "--once", "--sampler.interval", "0"],
            capture_output=True, text=True, timeout=60, cwd=ROOT, stdin=subprocess.DEVNULL,
        )
        after = ss_bytes_acked(h)
        assert r.returncode == 0, r.stderr
        tx = {(lb["local"], lb["remote"]): v for lb, v in _exposition(r.stdout, "lanes_flow_transmit_bytes_total")}
        data = max(after, key=after.get)  # the data connection: the one that moved bytes
        assert data in tx and data in before, (data, tx, before)
        assert before[data] <= tx[data] <= after[data], (before[data], tx[data], after[data])
        assert after[data] - before[data] > 100_000, "the stream was not running across the scrape"

        rt.wait_until("LanesFlowAtLaneLimit firing for the flow on l0", lambda: firing(lab, member="l0", protocol="iscsi", group="lab"), 90, interval=1)
        (alert,) = firing(lab)
        assert alert["metric"]["local"] == data[0] and alert["metric"]["remote"] == data[1]

        # 3. a second stream from l1's address: the policy rule sends it through l1
        two = client(lab, S1, 3260, H_ADDR["l1"], 120)

        def two_lanes():
            busy = {}
            text = scrape(lab)
            info = {(lb["local"], lb["remote"]): lb for lb, _ in _exposition(text, "lanes_flow_info")}
            for lb, v in _exposition(text, "lanes_flow_transmit_peak_bytes_per_second"):
                if v > 500_000:
                    busy[info[(lb["local"], lb["remote"])]["member"]] = info[(lb["local"], lb["remote"])]
            return busy if set(busy) == {"l0", "l1"} else None

        busy = rt.wait_until("two busy flows on two lanes", two_lanes, 30, interval=0.5)
        assert busy["l1"]["netdev"] == "l1" and busy["l1"]["remote"] == f"[{S1}]:3260" and busy["l1"]["local"].startswith(f"[{H_ADDR['l1']}]:")
        rt.wait_until("LanesFlowAtLaneLimit resolved", lambda: not firing(lab), 90, interval=1)
        text = scrape(lab)
        assert "flows_on_one_member" not in text
        assert 'lanes_group_flows{kind="declared",group="lab"} 4' in text  # two data + two control connections
        assert 'lanes_group_reachable_speed_bytes{kind="declared",group="lab"} 2060000' in text
    finally:
        for proc in (one, two):
            if proc is not None:
                h.stop(proc)
