"""Bad input fails the flows collector alone, with a clear reason, never the scrape
(issue 13): a cut sock_diag recording, a mountstats format from a newer kernel, a connstat
field lanes does not know."""

from __future__ import annotations

import os
import shutil

import pytest
from helpers import SCENARIOS, lanes


def _copy(tmp_path, name):
    d = tmp_path / name
    shutil.copytree(os.path.join(SCENARIOS, name), d, symlinks=True)
    return d


CASES = [
    ("linux-flows-iscsi-bond", "commands/sock_diag_tcp.out", lambda t: t.replace(" bytes_received=734003200", ""), "sock_diag tcp:2: expected LOCAL REMOTE dev= bytes_acked= bytes_received="),
    ("linux-flows-iscsi-bond", "root/proc/self/mountstats", lambda t: t.replace("statvers=1.1", "statvers=1.2"), "/proc/self/mountstats:2: statvers=1.2"),
    ("linux-flows-iscsi-bond", "root/proc/self/mountstats", lambda t: t.replace("64 0 0\n", "64 0 0 9 9\n"), "xprt tcp with 15 fields"),
    (
        "illumos-flows-comstar-aggr",
        "commands/connstat_-P_-e_-o_laddr,lport,raddr,rport,inbytes,outbytes.out",
        lambda t: t.replace("1203948576623", "1203948576623,187"),
        "7 fields where lanes asked for 6",
    ),
]


@pytest.mark.parametrize("name, path, change, why", CASES, ids=[c[3][:30] for c in CASES])
def test_bad_source_fails_flows_alone(tmp_path, name, path, change, why):
    d = _copy(tmp_path, name)
    f = d / path
    f.write_text(change(f.read_text()))
    r = lanes("--snapshot", str(d), "--once")
    assert r.returncode == 0, r.stderr
    assert "Traceback" not in r.stderr
    success = {line.split('"')[1]: line.rsplit(" ", 1)[1] for line in r.stdout.splitlines() if line.startswith("lanes_collector_success{")}
    assert success.pop("flows") == "0"
    assert success and set(success.values()) == {"1"}, success
    assert "lanes_flow_info" not in r.stdout
    assert why in r.stderr, r.stderr
