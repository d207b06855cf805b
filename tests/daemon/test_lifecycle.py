"""The daemon's life: SIGHUP reload (a bad config keeps the old one), SIGTERM finishing
in-flight scrapes, logs in logfmt and JSON without secrets, and the status page."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request

from helpers import ROOT, SCENARIOS
from test_http import free_port, get

SCENARIO = os.path.join(SCENARIOS, "linux-declared-mpio")


def start(tmp_path, config_text: str, *extra: str) -> tuple[subprocess.Popen, int, str]:
    cfg = tmp_path / "config.yml"
    cfg.write_text(config_text)
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--snapshot", SCENARIO, "--config.file", str(cfg),
         "--web.listen-address", f"127.0.0.1:{port}", *extra],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1).read()
            return proc, port, str(cfg)
        except urllib.error.HTTPError:  # 401 with basic auth: it is up
            return proc, port, str(cfg)
        except OSError:
            if proc.poll() is not None:
                raise AssertionError(proc.stderr.read()) from None
            time.sleep(0.1)
    proc.kill()
    raise AssertionError("did not start")


def metrics(port) -> str:
    return get(f"http://127.0.0.1:{port}/metrics")[2].decode()


def wait_for(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.1)
    return False


GOOD = "groups:\n  iscsi-mpio: {members: [ens1f0, ens2f0]}\n"


def test_sighup_reloads_and_keeps_old_config_when_bad(tmp_path):
    proc, port, cfg = start(tmp_path, GOOD, "--log.format", "json")
    try:
        assert 'group="iscsi-mpio"' in metrics(port)
        with open(cfg, "w") as f:
            f.write("groups:\n  renamed: {members: [eno1]}\n")
        proc.send_signal(signal.SIGHUP)
        assert wait_for(lambda: 'group="renamed"' in metrics(port)), "reload did not take effect"
        assert 'group="iscsi-mpio"' not in metrics(port)
        with open(cfg, "w") as f:
            f.write("groups:\n  broken: {membres: [eno1]}\n")
        proc.send_signal(signal.SIGHUP)
        time.sleep(1.0)
        text = metrics(port)
        assert 'group="renamed"' in text and "broken" not in text  # the old config keeps running
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0
    records = [json.loads(line) for line in err.splitlines() if line.strip()]
    failed = [r for r in records if r["msg"].startswith("reload failed")]
    assert len(failed) == 1 and "membres" in failed[0]["err"] and f"{cfg}:2" in failed[0]["err"]
    assert any(r["msg"] == "config reloaded" for r in records)
    assert "Traceback" not in err


def test_sigterm_finishes_in_flight_scrape(tmp_path):
    # /proc/net/dev of a copied snapshot becomes a FIFO: a scrape blocks reading it until
    # the test writes, so SIGTERM arrives while that scrape is in flight
    snap = tmp_path / "snap"
    shutil.copytree(SCENARIO, snap, symlinks=True)
    content = (snap / "root/proc/net/dev").read_text()
    (snap / "root/proc/net/dev").unlink()
    os.mkfifo(snap / "root/proc/net/dev")
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "exporter", "--snapshot", str(snap), "--config.file", str(snap / "config.yml"),
         "--web.listen-address", f"127.0.0.1:{port}", "--sampler.interval", "0"],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        assert wait_for(lambda: _up(port), 20)
        result = []
        t = threading.Thread(target=lambda: result.append(get(f"http://127.0.0.1:{port}/metrics")))
        t.start()
        # the scrape is in flight once lanes holds the FIFO open for reading: only then
        # does a non-blocking open for writing succeed (fifo(7))
        fd = None
        deadline = time.monotonic() + 20
        while fd is None and time.monotonic() < deadline:
            try:
                fd = os.open(snap / "root/proc/net/dev", os.O_WRONLY | os.O_NONBLOCK)
            except OSError:
                time.sleep(0.05)
        assert fd is not None, "the scrape never reached /proc/net/dev"
        proc.send_signal(signal.SIGTERM)
        time.sleep(0.5)
        assert proc.poll() is None, "lanes exited with a scrape in flight"
        os.set_blocking(fd, True)
        os.write(fd, content.encode())  # releases the blocked read
        os.close(fd)
        t.join(20)
        _, err = proc.communicate(timeout=20)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    status, headers, body = result[0]
    assert status == 200
    text = body.decode()
    assert text, (headers, err)
    assert 'lanes_collector_success{collector="link"} 1' in text and "lanes_link_receive_bytes_total{" in text


def _up(port) -> bool:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{port}/-/healthy", timeout=1).read()
        return True
    except OSError:
        return False


def test_logs_never_show_secrets(tmp_path):
    import bcrypt

    hashed = bcrypt.hashpw(b"pw", bcrypt.gensalt(rounds=4)).decode()
    web = tmp_path / "web.yml"
    web.write_text(f"basic_auth_users:\n  prom: '{hashed}'\n")
    proc, port, _ = start(tmp_path, GOOD, "--web.config.file", str(web), "--log.level", "debug")
    get(f"http://127.0.0.1:{port}/metrics", {"Authorization": "Basic cHJvbTp3cm9uZw=="})  # prom:wrong
    proc.send_signal(signal.SIGTERM)
    _, err = proc.communicate(timeout=20)
    assert hashed not in err and "wrong" not in err and "cHJvbTp3cm9uZw" not in err
    assert "level=info" in err and "msg=listening" in err  # logfmt by default


def test_status_page_shows_groups_members_and_state(tmp_path):
    proc, port, _ = start(tmp_path, GOOD + "  mgmt: {members: [eno1], balancing: failover}\n")
    try:
        page = get(f"http://127.0.0.1:{port}/")[2].decode()
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=20)
    assert "<script" not in page and "http://" not in page.split("</head>")[0]  # no JS, no external assets
    assert "<tr class='group degraded'><td>declared</td><td>iscsi-mpio</td>" in page
    assert "<tr class='group ok'><td>declared</td><td>mgmt</td>" in page
    assert "<tr class='member down'><td></td><td class='member-name'>ens2f0</td>" in page
    assert "<tr class='member up'><td></td><td class='member-name'>ens1f0</td>" in page
    assert "1/2" in page and "10 Gbit/s" in page and "1 Gbit/s" in page  # up/total and member speeds
