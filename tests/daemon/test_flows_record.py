"""What flows reads from sockets is recorded like command output and replays (SPEC §4),
also scrubbed: the addresses in the sock_diag rendering and in the route lookups' names
are replaced consistently, so the replay finds every route answer again."""

from __future__ import annotations

import yaml

from collectors.flows_linux import FlowsLinux
from exporter.api import Context
from exporter.config import Config
from exporter.host import CommandResult, RecordingHost, SnapshotHost
from exporter.scrub import Scrubber

SOCKETS = (
    "# sock_diag tcp established\n"
    "10.0.0.1:51000 10.0.0.20:3260 dev=- bytes_acked=5 bytes_received=7\n"
    "[fd00:1::1]:51001 [fd00:1::20]:4420 dev=- bytes_acked=1 bytes_received=2\n"
)


class FakeLive:
    """Stands in for LiveHost: the kernel's answers, fixed."""

    platform = "linux"
    live = True

    def __init__(self):
        self.asked = []

    def tcp_sockets(self, ports, *, timeout):
        return CommandResult(("sock_diag", "tcp"), 0, SOCKETS, "")

    def route_get(self, dst, src, *, timeout):
        self.asked.append((dst, src))
        dev = "ens1f0" if ":" not in dst else "ens2f0"
        return CommandResult(("ip", "route", "get", dst, "from", src), 0, f"{dst} from {src} dev {dev} uid 0 \n    cache \n", "")

    def read_text(self, path):
        raise FileNotFoundError(2, "No such file", path)

    def listdir(self, path):
        raise FileNotFoundError(2, "No such file", path)

    def netlink_links(self):
        return None

    def close(self):
        pass


def _flows(host):
    c = FlowsLinux(host, Context("flows", {}, Config(), None))
    return {lv: v for f in c.collect() if f.name == "lanes_flow_info" for lv, v in f.samples}


def test_record_and_replay_scrubbed(tmp_path, monkeypatch):
    from collectors import _link_common

    monkeypatch.setitem(_link_common.LINK_READERS, "linux", lambda host, ctx: {})  # no links needed here
    live = FakeLive()
    rec = RecordingHost(live, str(tmp_path), Scrubber(["storage-a"]))
    recorded = _flows(rec)
    assert {lv[3] for lv in recorded} == {"ens1f0", "ens2f0"}
    assert sorted(live.asked) == [("10.0.0.20", "10.0.0.1"), ("fd00:1::20", "fd00:1::1")]
    text = (tmp_path / "commands" / "sock_diag_tcp.out").read_text()
    assert "10.0.0.1" not in text and "fd00:1::1" not in text, text
    (tmp_path / "snapshot.yml").write_text(yaml.safe_dump({"platform": "linux", "notes": "test"}))
    replayed = _flows(SnapshotHost(str(tmp_path)))
    # same shape: two flows, each with the NIC its route answer named
    assert sorted((lv[0], lv[3]) for lv in replayed) == sorted((lv[0], lv[3]) for lv in recorded)
    assert all("10.0.0." not in lv[1] and "fd00:1::" not in lv[1] for lv in replayed)
