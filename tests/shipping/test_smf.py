"""The SMF manifest (deploy/smf/lanes.xml) validates against the SMF DTD and says what the
illumos section of the README promises: a foreground daemon under a dedicated user with
the basic privileges, after the network and local filesystems, exiting 96 on a bad config.

The DTD is the illumos one (usr/src/cmd/svc/dtd/service_bundle.dtd.1, installed as
/usr/share/lib/xml/dtd/service_bundle.dtd.1); tests read it from ``<repo>/../shared``.
"""

import os
import shlex
import shutil
import subprocess
import xml.etree.ElementTree as ET

from conftest import ROOT
from helpers import lanes, require

MANIFEST = os.path.join(ROOT, "deploy", "smf", "lanes.xml")
DTD = os.path.join(os.path.dirname(ROOT), "shared", "data", "smf", "service_bundle.dtd.1")


def test_manifest_validates_against_the_smf_dtd():
    xmllint = shutil.which("xmllint")
    require(xmllint is not None, "xmllint not installed (apt-get install libxml2-utils)")
    require(os.path.exists(DTD), f"SMF DTD not found at {DTD}")
    r = subprocess.run([xmllint, "--noout", "--nonet", "--dtdvalid", DTD, MANIFEST], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "validity error" not in r.stderr


def test_manifest_validation_catches_a_broken_manifest(tmp_path):
    # the validation above can fail: an exec_method without its required timeout is refused
    xmllint = shutil.which("xmllint")
    require(xmllint is not None, "xmllint not installed (apt-get install libxml2-utils)")
    require(os.path.exists(DTD), f"SMF DTD not found at {DTD}")
    with open(MANIFEST) as f:
        text = f.read()
    broken = tmp_path / "broken.xml"
    broken.write_text(text.replace('name="stop" exec=":kill" timeout_seconds="60"', 'name="stop" exec=":kill"'))
    r = subprocess.run([xmllint, "--noout", "--nonet", "--dtdvalid", DTD, str(broken)], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0


def _service():
    root = ET.parse(MANIFEST).getroot()
    assert root.tag == "service_bundle" and root.get("type") == "manifest"
    (service,) = root.findall("service")
    return service


def test_service_shape():
    s = _service()
    assert s.get("name") == "site/lanes"
    assert s.find("create_default_instance").get("enabled") == "false"
    deps = {d.get("name"): (d.get("grouping"), [f.get("value") for f in d.findall("service_fmri")]) for d in s.findall("dependency")}
    required = [fmri for grouping, fmris in deps.values() if grouping == "require_all" for fmri in fmris]
    assert "svc:/milestone/network:default" in required
    assert "svc:/system/filesystem/local:default" in required
    startd = {p.get("name"): p.get("value") for p in s.find("property_group[@name='startd']").findall("propval")}
    assert startd["duration"] == "child"


def test_runs_unprivileged_with_basic_privileges():
    cred = _service().find("method_context/method_credential")
    assert cred.get("user") not in (None, "root", "0")
    privs = cred.get("privileges").split(",")
    assert privs[0] == "basic"
    assert "all" not in privs and not any(p in privs for p in ("net_privaddr", "file_dac_read", "sys_admin"))
    env = {e.get("name"): e.get("value") for e in _service().findall("method_context/method_environment/envvar")}
    assert env["LC_ALL"] == "C"


def test_start_method_uses_flags_lanes_has():
    s = _service()
    methods = {m.get("name"): m for m in s.findall("exec_method")}
    assert set(methods) >= {"start", "stop", "refresh"}
    argv = shlex.split(methods["start"].get("exec"))
    assert os.path.basename(argv[0]) == "lanes_exporter"
    props = {p.get("name"): p.get("value") for p in s.find("property_group[@name='config']").findall("propval")}
    flags = []
    for arg in argv[1:]:
        flag, _, value = arg.partition("=")
        flags.append(flag)
        if value.startswith("%{config/"):
            assert value[len("%{config/") : -1] in props, value
    help_text = lanes("--help").stdout
    for flag in flags:
        assert flag in help_text, flag


def test_bad_config_under_smf_exits_96(tmp_path):
    bad = tmp_path / "config.yml"
    bad.write_text("collectors:\n  no-such-collector: {}\n")
    r = lanes("--config.file", str(bad), "--check-config", env={"SMF_FMRI": "svc:/site/lanes:default"})
    assert r.returncode == 96, r.stderr  # SMF_EXIT_ERR_CONFIG: maintenance, no restart loop
    assert "no-such-collector" in r.stderr and "Traceback" not in r.stderr
    r = lanes("--config.file", str(bad), "--check-config")
    assert r.returncode == 2  # outside SMF the usual exit code for a bad config
