"""The status page in a real browser: Debian's headless Chromium renders lanes' landing
page for a scenario with a degraded group and a down member.

``pytest tests/daemon/test_status_browser.py --update-golden`` also refreshes the screenshot in
docs/status-page.png that the README shows.
"""

import os
import shutil
import signal
import subprocess
import time

from helpers import ROOT, require_tool
from test_http import get
from test_lifecycle import GOOD, start

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--hide-scrollbars",
]  # fmt: skip


def chromium(tmp_path, *args):
    exe = require_tool("chromium")
    profile = tmp_path / "profile"
    profile.mkdir(exist_ok=True)
    return subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={profile}", *args], capture_output=True, text=True, timeout=120, cwd=tmp_path)


def advance(snap, seconds: float) -> None:
    """Move the snapshot's NIC counters as if ens1f0 carried ~400 MB/s in, 200 MB/s out."""
    path = snap / "root/proc/net/dev"
    lines = path.read_text().splitlines(keepends=True)
    out = []
    for line in lines:
        name, colon, rest = line.partition(":")
        if colon and name.strip() in ("ens1f0", "eno1"):
            f = rest.split()
            scale = 1 if name.strip() == "ens1f0" else 0.001
            f[0] = str(int(f[0]) + int(400e6 * seconds * scale))
            f[8] = str(int(f[8]) + int(200e6 * seconds * scale))
            line = f"{name}: " + " ".join(f) + "\n"
        out.append(line)
    path.write_text("".join(out))


def test_browser_shows_degraded_group_and_down_member(tmp_path, update_golden):
    require_tool("chromium")
    snap = tmp_path / "snap"
    shutil.copytree(os.path.join(ROOT, "tests/scenarios/linux-declared-mpio"), snap, symlinks=True)
    proc, port, _ = start(tmp_path, GOOD + "  mgmt: {members: [eno1], balancing: failover}\n", "--snapshot", str(snap))
    try:
        # two scrapes with traffic between them, so rates and sampler peaks are shown
        get(f"http://127.0.0.1:{port}/metrics")
        for _ in range(3):
            time.sleep(1.0)
            advance(snap, 1.0)
        get(f"http://127.0.0.1:{port}/metrics")
        url = f"http://127.0.0.1:{port}/"
        dom = chromium(tmp_path, "--dump-dom", url)
        assert dom.returncode == 0, dom.stderr[-2000:]
        shot = tmp_path / "status.png"
        r = chromium(tmp_path, f"--screenshot={shot}", "--window-size=1200,900", url)
        assert r.returncode == 0 and shot.exists() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    html = dom.stdout
    # the DOM as Chromium parsed it: classes carry the state the colours are drawn from
    assert '<tr class="group degraded"><td>declared</td><td>iscsi-mpio</td>' in html
    assert '<td class="member-name">ens2f0</td><td colspan="2"></td><td class="state">down</td>' in html
    assert '<tr class="member down">' in html and '<tr class="group ok"><td>declared</td><td>mgmt</td>' in html
    assert html.count(" MB/s</td>") >= 4  # ens1f0: rate in, rate out, peak in, peak out
    if update_golden:
        shutil.copy(shot, os.path.join(ROOT, "docs", "status-page.png"))
    assert os.path.exists(os.path.join(ROOT, "docs", "status-page.png"))
