"""The exporter-toolkit web config (prometheus/exporter-toolkit docs/web-configuration.md),
so that one web.yml serves node_exporter and lanes: every key is accepted, what Python's
ssl can do is done (checked with curl and ``openssl s_client`` as clients), and what it
cannot is named in ONE warning line instead of refusing to start.

The configs below follow the examples of exporter-toolkit's documentation and its
web/testdata files (web_config_noAuth_allCiphers.good.yml, ..._someCiphers.good.yml,
..._allCurves.good.yml, ..._noHTTP2.good.yml, web_config_auth_client_san.good.yaml,
..._tlsInline.good.yml, web_config_headers.good.yml), with certificates made here.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest
from helpers import ROOT, SCENARIOS, lanes, require_tool, wait_listening

SCENARIO = os.path.join(SCENARIOS, "linux-declared-mpio")

ALL_CIPHERS = """\
  cipher_suites:
  - TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256
  - TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384
  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256
  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384
  - TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256
  - TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256
  - TLS_AES_128_GCM_SHA256
  - TLS_AES_256_GCM_SHA384
  - TLS_CHACHA20_POLY1305_SHA256
  - TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA
  - TLS_ECDHE_ECDSA_WITH_AES_256_CBC_SHA
  - TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA
  - TLS_ECDHE_RSA_WITH_AES_256_CBC_SHA
  - TLS_RSA_WITH_AES_128_CBC_SHA
  - TLS_RSA_WITH_AES_256_CBC_SHA
  - TLS_RSA_WITH_AES_128_GCM_SHA256
  - TLS_RSA_WITH_AES_256_GCM_SHA384
"""


def _openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True, capture_output=True, timeout=60)


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    require_tool("openssl")
    require_tool("curl")
    d = tmp_path_factory.mktemp("pki")
    _openssl("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", "ca.key", "-out", "ca.crt", "-days", "2", "-subj", "/CN=lanes web test CA", cwd=d)
    certs = {
        "server": ("127.0.0.1", "subjectAltName=IP:127.0.0.1,DNS:localhost\n"),
        "client": ("prometheus", "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:prometheus.example,IP:::1\n"),
        "stranger": ("stranger", "extendedKeyUsage=clientAuth\nsubjectAltName=DNS:stranger.example\n"),
    }
    for name, (cn, ext) in certs.items():
        _openssl("req", "-newkey", "rsa:2048", "-nodes", "-keyout", f"{name}.key", "-out", f"{name}.csr", "-subj", f"/CN={cn}", cwd=d)
        (d / f"{name}.ext").write_text(ext)
        _openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key", "-CAcreateserial", "-out", f"{name}.crt", "-days", "2", "-extfile", f"{name}.ext", cwd=d)
    return d


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Lanes:
    def __init__(self, web: str, tmp_path, env: dict | None = None):
        path = tmp_path / f"web-{time.monotonic_ns()}.yml"
        path.write_text(web)
        self.web = str(path)
        self.port = _free_port()
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "exporter", "--snapshot", SCENARIO, "--config.file", os.path.join(SCENARIO, "config.yml"),
             "--web.listen-address", f"127.0.0.1:{self.port}", "--web.config.file", self.web],
            cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, env={**os.environ, **(env or {})},
        )
        wait_listening(self.proc, self.port)

    def stop(self) -> str:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)
        return self.proc.stderr.read()


@pytest.fixture
def serve(tmp_path):
    started = []

    def start(web, env=None):
        d = Lanes(textwrap.dedent(web), tmp_path, env)
        started.append(d)
        return d

    yield start
    for d in started:
        d.stop()


def curl(pki, port, *args, path="/metrics"):
    r = subprocess.run(
        ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "20", "--cacert", f"{pki}/ca.crt", *args, f"https://127.0.0.1:{port}{path}"],
        capture_output=True, text=True, timeout=30,
    )
    return r.stdout.strip()


def s_client(pki, port, *args) -> str:
    """One TLS handshake with openssl s_client; its transcript (empty input, so it quits)."""
    r = subprocess.run(
        ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-CAfile", f"{pki}/ca.crt", "-verify_return_error", "-brief", *args],
        input="", capture_output=True, text=True, timeout=30,
    )
    return r.stdout + r.stderr


def _ok(transcript: str) -> bool:
    return "CONNECTION ESTABLISHED" in transcript


def _warnings(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "accepted, but not done by lanes" in line]


def tls(pki, extra=""):
    return f"tls_server_config:\n  cert_file: {pki}/server.crt\n  key_file: {pki}/server.key\n" + extra


# --------------------------------------------------------------------- examples that must work


def test_all_ciphers_example_serves_tls12_and_tls13(pki, serve):
    d = serve(tls(pki, '  client_auth_type: "VerifyClientCertIfGiven"\n' f"  client_ca_file: {pki}/ca.crt\n" + ALL_CIPHERS))
    assert curl(pki, d.port) == "200"
    assert curl(pki, d.port, "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key") == "200"
    assert _ok(s_client(pki, d.port, "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"))
    assert _ok(s_client(pki, d.port, "-tls1_3"))
    # a suite outside the list (RSA key exchange with SHA-256 CBC) is refused
    assert not _ok(s_client(pki, d.port, "-tls1_2", "-cipher", "AES128-SHA256"))
    assert _warnings(d.stop()) == []  # everything in it is honoured


def test_some_ciphers_and_tls12_only(pki, serve):
    d = serve(tls(pki, "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n  min_version: TLS12\n  max_version: TLS12\n"))
    out = s_client(pki, d.port)
    assert _ok(out) and "Protocol version: TLSv1.2" in out
    assert "Ciphersuite: ECDHE-RSA-AES" in out and "GCM" in out
    assert not _ok(s_client(pki, d.port, "-tls1_3"))
    assert not _ok(s_client(pki, d.port, "-tls1_2", "-cipher", "ECDHE-RSA-CHACHA20-POLY1305"))
    assert curl(pki, d.port, "--tls-max", "1.2") == "200"


@pytest.mark.parametrize("prefer, chosen", [(True, "ECDHE-RSA-AES128-GCM-SHA256"), (False, "ECDHE-RSA-AES256-GCM-SHA384")])
def test_prefer_server_cipher_suites(pki, serve, prefer, chosen):
    d = serve(tls(pki, "  cipher_suites:\n  - TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256\n  - TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384\n"
                       f"  prefer_server_cipher_suites: {str(prefer).lower()}\n  max_version: TLS12\n"))
    # the client prefers AES256: the server's order wins only with prefer_server_cipher_suites
    out = s_client(pki, d.port, "-tls1_2", "-cipher", "ECDHE-RSA-AES256-GCM-SHA384:ECDHE-RSA-AES128-GCM-SHA256")
    assert _ok(out) and f"Ciphersuite: {chosen}" in out, out


def test_one_curve_is_enforced(pki, serve):
    d = serve(tls(pki, "  curve_preferences:\n    - CurveP384\n"))
    out = s_client(pki, d.port, "-groups", "P-384:P-256")
    assert _ok(out) and "secp384r1" in out, out
    assert not _ok(s_client(pki, d.port, "-groups", "P-256:X25519"))
    assert _warnings(d.stop()) == []


def test_all_curves_example_uses_the_first_and_says_so(pki, serve):
    d = serve(tls(pki, '  client_auth_type: "VerifyClientCertIfGiven"\n  curve_preferences:\n    - CurveP256\n    - CurveP384\n    - CurveP521\n    - X25519\n    - X25519MLKEM768\n'))
    assert _ok(s_client(pki, d.port, "-groups", "P-256"))
    assert not _ok(s_client(pki, d.port, "-groups", "X25519"))
    warnings = _warnings(d.stop())
    assert len(warnings) == 1, warnings
    assert "curve_preferences" in warnings[0] and "CurveP256" in warnings[0]
    # no client_ca_file: verified against the system store, and said so in the same line
    assert "system's CA store" in warnings[0]


def test_http2_is_one_warning_and_http11_still_answers(pki, serve):
    d = serve(tls(pki) + "http_server_config:\n  http2: true\n  headers:\n    X-Frame-Options: sameorigin\n")
    # ALPN offers nothing: curl falls back to HTTP/1.x
    r = subprocess.run(["curl", "-sS", "--http2", "-o", "/dev/null", "-w", "%{http_code} %{http_version}", "--cacert", f"{pki}/ca.crt", f"https://127.0.0.1:{d.port}/metrics"], capture_output=True, text=True, timeout=30)
    code, version = r.stdout.split()
    assert code == "200" and version.startswith("1"), r.stdout
    r = subprocess.run(["curl", "-sS", "-D", "-", "-o", "/dev/null", "--cacert", f"{pki}/ca.crt", f"https://127.0.0.1:{d.port}/metrics"], capture_output=True, text=True, timeout=30)
    assert "x-frame-options: sameorigin" in r.stdout.lower()
    warnings = _warnings(d.stop())
    assert len(warnings) == 1 and "http2" in warnings[0] and "HTTP/1.1 only" in warnings[0], warnings


def test_no_http2_example_has_no_warning(pki, serve):
    d = serve(tls(pki) + "http_server_config:\n  http2: false\n")
    assert curl(pki, d.port) == "200"
    assert _warnings(d.stop()) == []


def test_client_allowed_sans(pki, serve):
    d = serve(tls(pki, f'  client_auth_type: "RequireAndVerifyClientCert"\n  client_ca_file: "{pki}/ca.crt"\n'
                       '  client_allowed_sans:\n    - "one"\n    - "prometheus.example"\n    - "two"\n'))
    assert curl(pki, d.port, "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key") == "200"
    # verified by the CA, but its SAN is not allowed: no response
    assert not curl(pki, d.port, "--cert", f"{pki}/stranger.crt", "--key", f"{pki}/stranger.key").startswith("200")
    assert not curl(pki, d.port).startswith("200")  # no certificate at all
    # the same with openssl s_client speaking HTTP by hand
    ok = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{d.port}", "-CAfile", f"{pki}/ca.crt", "-quiet", "-cert", f"{pki}/client.crt", "-key", f"{pki}/client.key"],
                        input="GET /metrics HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=30)
    assert "HTTP/1.0 200" in ok.stdout and "lanes_link_up" in ok.stdout
    bad = subprocess.run(["openssl", "s_client", "-connect", f"127.0.0.1:{d.port}", "-CAfile", f"{pki}/ca.crt", "-quiet", "-cert", f"{pki}/stranger.crt", "-key", f"{pki}/stranger.key"],
                         input="GET /metrics HTTP/1.0\r\n\r\n", capture_output=True, text=True, timeout=30)
    assert "200" not in bad.stdout and "lanes_" not in bad.stdout
    assert d.proc.poll() is None
    stderr = d.stop()
    assert "client certificate refused" in stderr and "stranger.example" in stderr
    assert "Traceback" not in stderr


def test_allowed_san_matches_an_ip_in_any_spelling(pki, serve):
    d = serve(tls(pki, f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca_file: {pki}/ca.crt\n  client_allowed_sans: ['0:0:0:0:0:0:0:1']\n"))
    assert curl(pki, d.port, "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key") == "200"


def test_inline_cert_key_and_client_ca(pki, serve):
    def block(name):
        return "\n".join("    " + line for line in (pki / name).read_text().splitlines())

    d = serve(f"tls_server_config:\n  cert: |\n{block('server.crt')}\n  key: |\n{block('server.key')}\n"
              f"  client_auth_type: RequireAndVerifyClientCert\n  client_ca: |\n{block('ca.crt')}\n")
    assert curl(pki, d.port, "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key") == "200"
    assert not curl(pki, d.port).startswith("200")


def test_require_any_client_cert_is_verified_and_said(pki, serve):
    d = serve(tls(pki, f"  client_auth_type: RequireAnyClientCert\n  client_ca_file: {pki}/ca.crt\n") + "rate_limit:\n  interval: 1s\n  burst: 10\n")
    assert curl(pki, d.port, "--cert", f"{pki}/client.crt", "--key", f"{pki}/client.key") == "200"
    assert not curl(pki, d.port).startswith("200")
    warnings = _warnings(d.stop())
    assert len(warnings) == 1 and "RequireAnyClientCert is served as RequireAndVerifyClientCert" in warnings[0] and "rate_limit" in warnings[0]


def test_check_config_names_what_is_not_done(pki, tmp_path):
    web = tmp_path / "web.yml"
    web.write_text(tls(pki) + "http_server_config:\n  http2: true\n")
    r = lanes("--web.config.file", str(web), "--check-config")
    assert r.returncode == 0, r.stderr
    assert len(_warnings(r.stderr)) == 1 and str(web) in r.stderr


# --------------------------------------------------------------------- what is refused


@pytest.mark.parametrize(
    "extra, line, problem",
    [
        ("  cipher_suites:\n  - TLS_INVENTED_CIPHER_SUITE\n", 5, "unknown cipher suite 'TLS_INVENTED_CIPHER_SUITE'"),
        ("  curve_preferences:\n    - CurveInvented\n", 5, "unknown curve 'CurveInvented'"),
        ("  min_version: TLS111\n", 4, "min_version: must be one of"),
        ("  client_auth_type: VerifyClientCertIfGiven\n  client_allowed_sans: [one]\n", 2, "client_allowed_sans needs client_auth_type RequireAndVerifyClientCert"),
        ("  prefer_server_cipher_suites: perhaps\n", 4, "must be true or false"),
        ("  min_version: TLS13\n  max_version: TLS12\n", 2, "min_version TLS13 is above max_version TLS12"),
    ],
)
def test_bad_values_exit_2_with_file_and_line(pki, tmp_path, extra, line, problem):
    web = tmp_path / "web.yml"
    web.write_text(tls(pki, extra))
    r = lanes("--web.config.file", str(web), "--check-config")
    assert r.returncode == 2, r.stdout + r.stderr
    assert f"{web}:{line}:" in r.stderr and problem in r.stderr, r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1


def test_basic_auth_without_bcrypt_is_exit_2_with_one_line(tmp_path):
    """bcrypt is the [auth] extra: configured users without it are a clear exit 2."""
    fake = tmp_path / "nobcrypt" / "bcrypt"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('No module named bcrypt')\n")
    web = tmp_path / "web.yml"
    web.write_text("basic_auth_users:\n  alice: $2y$10$mDwo.lAisC94iLAyP81MCesa29IzH37oigHC/42V2pdJlUprsJPze\n")
    r = lanes("--web.config.file", str(web), "--check-config", env={"PYTHONPATH": str(tmp_path / "nobcrypt")})
    assert r.returncode == 2
    assert r.stderr.strip().count("\n") == 0, r.stderr
    assert f"{web}:1:" in r.stderr and "lanes-exporter[auth]" in r.stderr and "python3-bcrypt" in r.stderr
    # and with bcrypt present the same file is fine
    pytest.importorskip("bcrypt")
    assert lanes("--web.config.file", str(web), "--check-config").returncode == 0


def test_min_version_tls10_is_honoured_and_the_default_refuses_it(pki, serve):
    """OpenSSL 3 refuses TLS 1.0/1.1 at its default security level: lanes lowers the level
    only when the web config asks for those versions (node_exporter serves them then)."""
    old = ("-tls1", "-cipher", "DEFAULT:@SECLEVEL=0")
    d = serve(tls(pki, "  min_version: TLS10\n"))
    out = s_client(pki, d.port, *old)
    assert _ok(out) and "Protocol version: TLSv1\n" in out, out
    d2 = serve(tls(pki))
    assert not _ok(s_client(pki, d2.port, *old))
    assert _ok(s_client(pki, d2.port, "-tls1_2"))
