"""SMTP AUTH with SCRAM-SHA-256 and SCRAM-SHA-256-PLUS (RFC 7677, RFC 5802): GNU SASL's
gsasl client over STARTTLS (TLS 1.3 with tls-exporter, TLS 1.2 with tls-unique), a Python
client of the exchange on the raw socket for what gsasl will not do wrong on purpose
(bad channel binding, downgrade, a wrong nonce), the users file `posthorn user` writes,
and old entries without SCRAM secrets still logging in with PLAIN and LOGIN."""

import base64
import hashlib
import hmac
import os
import shutil
import ssl
import subprocess

import pytest

from conftest import PASSWORD, client_tls_context, free_port, run_cli
from smtpclient import SmtpConn

ALICE = "alice@example.test"
TLS = {"tls": {"self_signed": True}}
ROLES = ("submission", "submissions")

needs_gsasl = pytest.mark.skipif(shutil.which("gsasl") is None,
                                 reason="gsasl (Debian package gsasl) is not installed")


@pytest.fixture
def server(make_server):
    return make_server(roles=ROLES, sections=TLS)


def b64(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode("utf-8")
    return base64.b64encode(data).decode("ascii")


def unb64(text: str) -> str:
    return base64.b64decode(text, validate=True).decode("utf-8")


def keywords(ehlo_reply) -> dict[str, list[str]]:
    return {line.split()[0].upper(): line.split()[1:] for line in ehlo_reply.lines[1:]
            if line.strip()}


class ScramClient:
    """The client side of RFC 5802 §3 with SHA-256, written from the RFC."""

    def __init__(self, user: str, password: str, gs2: str = "n,,", cbind: bytes = b""):
        self.password = password.encode("utf-8")
        self.gs2 = gs2
        self.cbind = cbind
        self.cnonce = b64(os.urandom(18))
        name = user.replace("=", "=3D").replace(",", "=2C")
        self.bare = f"n={name},r={self.cnonce}"
        self.server_signature = b""

    def first(self) -> str:
        return self.gs2 + self.bare

    def final(self, server_first: str, nonce: str | None = None) -> str:
        attrs = dict(kv.split("=", 1) for kv in server_first.split(","))
        assert attrs["r"].startswith(self.cnonce), server_first
        salt = base64.b64decode(attrs["s"])
        iterations = int(attrs["i"])
        assert iterations >= 4096
        salted = hashlib.pbkdf2_hmac("sha256", self.password, salt, iterations)
        client_key = hmac.digest(salted, b"Client Key", "sha256")
        stored_key = hashlib.sha256(client_key).digest()
        without_proof = (f"c={b64(self.gs2.encode() + self.cbind)},"
                         f"r={attrs['r'] if nonce is None else nonce}")
        auth_message = f"{self.bare},{server_first},{without_proof}".encode()
        signature = hmac.digest(stored_key, auth_message, "sha256")
        proof = bytes(a ^ b for a, b in zip(client_key, signature))
        server_key = hmac.digest(salted, b"Server Key", "sha256")
        self.server_signature = hmac.digest(server_key, auth_message, "sha256")
        return f"{without_proof},p={b64(proof)}"


def tls12_session(srv, role="submission") -> SmtpConn:
    """EHLO, STARTTLS limited to TLS 1.2 (tls-unique exists only there), EHLO again."""
    c = srv.connect(port=srv.port_for(role))
    c.ehlo()
    assert c.cmd("STARTTLS").code == 220
    ctx = client_tls_context()
    ctx.maximum_version = ssl.TLSVersion.TLSv1_2
    c.sock = ctx.wrap_socket(c.sock)
    return c


def scram_login(c: SmtpConn, client: ScramClient, mechanism: str = "SCRAM-SHA-256",
                nonce: str | None = None):
    """Runs the exchange; returns the last reply."""
    r = c.cmd(f"AUTH {mechanism} {b64(client.first())}")
    if r.code != 334:
        return r
    r = c.cmd(b64(client.final(unb64(r.text), nonce=nonce)))
    if r.code != 334:
        return r
    assert unb64(r.text) == "v=" + b64(client.server_signature)
    return c.cmd("")


# -- what `posthorn user` writes ---------------------------------------------------------

def users_line(srv, address: str) -> str:
    for line in srv.users_file.read_text().splitlines():
        if line.startswith(address + ":"):
            return line
    raise AssertionError(f"{address} not in {srv.users_file}")


@needs_gsasl
def test_user_add_stores_scram_secrets_that_gsasl_derives_the_same(make_server):
    srv = make_server(start=False, users=())
    srv.write_config()
    r = run_cli("user", "add", "carol@example.test", config=srv.config_path,
                stdin="p\u00e4ss w0rd\n")
    assert r.returncode == 0, r.stderr
    fields = users_line(srv, "carol@example.test").split(":")
    assert fields[1].startswith("$y$")
    assert fields[2].startswith("scram-sha-256=")
    iterations, salt, stored, server_key = fields[2].split("=", 1)[1].split(",")
    assert int(iterations) == 65536 and len(base64.b64decode(salt)) == 16
    made = subprocess.run(
        ["gsasl", "--mkpasswd", "--mechanism", "SCRAM-SHA-256", "--password", "p\u00e4ss w0rd",
         "--iteration-count", iterations, "--salt", salt],
        capture_output=True, text=True, timeout=60)
    assert made.returncode == 0, made.stderr
    assert made.stdout.strip() == f"{{SCRAM-SHA-256}}{iterations},{salt},{stored},{server_key}"

    # passwd replaces the secrets (a new salt), keeping the line's other fields.
    srv.users_file.write_text(users_line(srv, "carol@example.test") + ":1000:1000\n")
    r = run_cli("user", "passwd", "carol@example.test", config=srv.config_path,
                stdin="another\n")
    assert r.returncode == 0, r.stderr
    new = users_line(srv, "carol@example.test").split(":")
    assert new[2].startswith("scram-sha-256=") and new[2] != fields[2]
    assert new[3:] == ["1000", "1000"]


def test_password_saslprep_refuses_is_stored_without_scram(make_server):
    srv = make_server(start=False, users=())
    srv.write_config()
    r = run_cli("user", "add", "dave@example.test", config=srv.config_path,
                stdin="bell\x07pw\n")
    assert r.returncode == 0, r.stderr
    assert "no SCRAM-SHA-256 secrets" in r.stderr
    assert users_line(srv, "dave@example.test").count(":") == 1


def test_bad_scram_field_is_refused_naming_the_line(make_server):
    srv = make_server(start=False)
    srv.write_config()
    srv.users_file.write_text("bob@example.test:$y$x:scram-sha-256=100,AAAA,BBBB,CCCC\n")
    r = run_cli("check-config", config=srv.config_path)
    assert r.returncode == 2
    assert "scram-sha-256" in r.stderr and ":1" in r.stderr


# -- advertising -------------------------------------------------------------------------

def test_scram_is_advertised_plus_only_inside_tls(make_server):
    srv = make_server(roles=("submission",), sections=TLS,
                      listen_options={"allow_plaintext_auth": True})
    with srv.session() as c:
        assert keywords(c.cmd("EHLO client.example.net"))["AUTH"] == [
            "SCRAM-SHA-256", "PLAIN", "LOGIN"]
        # Not offered, so not accepted: there is no TLS to bind to.
        assert c.cmd("AUTH SCRAM-SHA-256-PLUS").is_(504, "5.5.4")
    with srv.tls_session() as c:
        assert keywords(c.cmd("EHLO client.example.net"))["AUTH"] == [
            "SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"]


# -- gsasl, a real client ----------------------------------------------------------------

def gsasl(port: int, mechanism: str, password: str, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        ["gsasl", "--smtp", "--connect", f"127.0.0.1:{port}", "--starttls",
         "--x509-ca-file=", "--mechanism", mechanism, "-a", ALICE, "-p", password,
         "--verbose", *extra],
        stdin=subprocess.DEVNULL, capture_output=True, text=True, timeout=60)


def transcript(r: subprocess.CompletedProcess) -> str:
    return f"exit {r.returncode}\nstdout:\n{r.stdout}\nstderr:\n{r.stderr}"


@needs_gsasl
def test_gsasl_scram_sha_256_succeeds(server):
    r = gsasl(server.port_for("submission"), "SCRAM-SHA-256", PASSWORD, "--no-cb")
    assert r.returncode == 0, transcript(r)
    assert "235 2.7.0" in r.stdout + r.stderr, transcript(r)


@needs_gsasl
def test_gsasl_scram_sha_256_wrong_password_is_535_578(server):
    r = gsasl(server.port_for("submission"), "SCRAM-SHA-256", "wrong", "--no-cb")
    assert r.returncode != 0, transcript(r)
    assert "535 5.7.8" in r.stdout + r.stderr, transcript(r)


@needs_gsasl
def test_gsasl_scram_sha_256_plus_tls13_exporter_succeeds(server):
    r = gsasl(server.port_for("submission"), "SCRAM-SHA-256-PLUS", PASSWORD)
    assert r.returncode == 0, transcript(r)
    out = r.stdout + r.stderr
    assert "235 2.7.0" in out, transcript(r)
    # The GS2 header of the client-first message names the binding type.
    assert b64("p=tls-exporter,,")[:16] in out, transcript(r)


@needs_gsasl
def test_gsasl_scram_sha_256_plus_tls12_succeeds(server):
    r = gsasl(server.port_for("submission"), "SCRAM-SHA-256-PLUS", PASSWORD,
              "--priority", "NORMAL:-VERS-TLS1.3")
    assert r.returncode == 0, transcript(r)
    assert "235 2.7.0" in r.stdout + r.stderr, transcript(r)


@needs_gsasl
def test_gsasl_scram_sha_256_plus_wrong_password_is_535_578(server):
    r = gsasl(server.port_for("submission"), "SCRAM-SHA-256-PLUS", "wrong")
    assert r.returncode != 0, transcript(r)
    assert "535 5.7.8" in r.stdout + r.stderr, transcript(r)


# -- the exchange on the raw socket ------------------------------------------------------

@pytest.mark.parametrize("role", ROLES)
def test_python_scram_succeeds_and_the_session_is_authenticated(server, role):
    port = server.port_for(role)
    if role == "submissions":
        c = server.connect_tls(port=port)  # RFC 8314: TLS from the first octet
        c.ehlo()
    else:
        c = server.tls_session(port=port)
    with c:
        assert scram_login(c, ScramClient(ALICE, PASSWORD)).is_(235, "2.7.0")
        assert c.cmd("AUTH PLAIN").is_(503, "5.5.1")  # already authenticated
        assert c.cmd(f"MAIL FROM:<{ALICE}>").code == 250


def test_scram_without_initial_response_gets_an_empty_challenge(server):
    with server.tls_session() as c:
        client = ScramClient(ALICE, PASSWORD)
        r = c.cmd("AUTH SCRAM-SHA-256")
        assert r.code == 334 and r.text == ""
        r = c.cmd(b64(client.first()))
        assert r.code == 334
        r = c.cmd(b64(client.final(unb64(r.text))))
        assert r.code == 334 and unb64(r.text) == "v=" + b64(client.server_signature)
        assert c.cmd("").is_(235, "2.7.0")


def test_scram_wrong_password_is_535_578(server):
    with server.tls_session() as c:
        assert scram_login(c, ScramClient(ALICE, "wrong")).is_(535, "5.7.8")


def test_unknown_user_looks_like_a_real_one_until_the_end(server):
    """No user enumeration: the same salt on every try, the default count, then 535."""
    firsts = []
    for _ in range(2):
        with server.tls_session() as c:
            client = ScramClient("nobody@example.test", PASSWORD)
            r = c.cmd(f"AUTH SCRAM-SHA-256 {b64(client.first())}")
            assert r.code == 334
            sf = dict(kv.split("=", 1) for kv in unb64(r.text).split(","))
            firsts.append((sf["s"], sf["i"]))
            assert c.cmd(b64(client.final(unb64(r.text)))).is_(535, "5.7.8")
    assert firsts[0] == firsts[1]
    assert firsts[0][1] == "65536" and len(base64.b64decode(firsts[0][0])) == 16


def test_wrong_nonce_echo_is_refused(server):
    with server.tls_session() as c:
        r = scram_login(c, ScramClient(ALICE, PASSWORD), nonce="forged-nonce")
        assert r.is_(535, "5.7.8")


def test_other_authzid_is_refused(server):
    with server.tls_session() as c:
        assert scram_login(c, ScramClient(ALICE, PASSWORD, gs2="n,a=bob@example.test,")).is_(
            535, "5.7.8")
    with server.tls_session() as c:
        assert scram_login(c, ScramClient(ALICE, PASSWORD, gs2=f"n,a={ALICE},")).is_(
            235, "2.7.0")


def test_client_may_cancel_after_the_server_signature(server):
    with server.tls_session() as c:
        client = ScramClient(ALICE, PASSWORD)
        r = c.cmd(f"AUTH SCRAM-SHA-256 {b64(client.first())}")
        r = c.cmd(b64(client.final(unb64(r.text))))
        assert r.code == 334
        assert c.cmd("*").is_(501, "5.7.0")
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(530, "5.7.0")  # not logged in


def test_tls_unique_binding_succeeds_on_tls12(server):
    with tls12_session(server) as c:
        assert c.sock.version() == "TLSv1.2"
        kw = keywords(c.cmd("EHLO client.example.net"))
        assert "SCRAM-SHA-256-PLUS" in kw["AUTH"]
        cb = c.sock.get_channel_binding("tls-unique")
        client = ScramClient(ALICE, PASSWORD, gs2="p=tls-unique,,", cbind=cb)
        assert scram_login(c, client, "SCRAM-SHA-256-PLUS").is_(235, "2.7.0")


def test_bad_channel_binding_is_refused(server):
    with tls12_session(server) as c:
        c.cmd("EHLO client.example.net")
        cb = bytearray(c.sock.get_channel_binding("tls-unique"))
        cb[0] ^= 1  # as seen through a man in the middle: another TLS connection
        client = ScramClient(ALICE, PASSWORD, gs2="p=tls-unique,,", cbind=bytes(cb))
        r = scram_login(c, client, "SCRAM-SHA-256-PLUS")
        assert r.is_(535, "5.7.8") and "channel-bindings-dont-match" in r.text


def test_tls_unique_is_not_offered_on_tls13(server):
    with server.tls_session() as c:
        assert c.sock.version() == "TLSv1.3"
        client = ScramClient(ALICE, PASSWORD, gs2="p=tls-unique,,", cbind=b"x" * 12)
        r = scram_login(c, client, "SCRAM-SHA-256-PLUS")
        assert r.is_(535, "5.7.8") and "unsupported-channel-binding-type" in r.text


def test_downgrade_y_flag_is_refused_where_plus_is_offered(server):
    """RFC 5802 §6: "y" = the client can bind but did not see -PLUS: someone removed it."""
    with server.tls_session() as c:
        r = scram_login(c, ScramClient(ALICE, PASSWORD, gs2="y,,"))
        assert r.is_(535, "5.7.8") and "server-does-support-channel-binding" in r.text


def test_malformed_messages_answer_and_the_session_goes_on(server):
    with server.tls_session() as c:
        assert c.cmd(f"AUTH SCRAM-SHA-256 {b64('n,,r=abc')}").is_(501, "5.5.2")
        assert c.cmd(f"AUTH SCRAM-SHA-256 {b64('m=x,n=a,r=b')}").code in (501, 535)
        client = ScramClient(ALICE, PASSWORD)
        r = c.cmd(f"AUTH SCRAM-SHA-256 {b64(client.first())}")
        assert r.code == 334
        assert c.cmd(b64("c=biws")).is_(501, "5.5.2")
        assert c.cmd("NOOP").is_(250, "2.0.0")
        assert scram_login(c, ScramClient(ALICE, PASSWORD)).is_(235, "2.7.0")


# -- old entries -------------------------------------------------------------------------

def test_entry_without_scram_secrets_logs_in_with_plain_and_login_only(make_server):
    srv = make_server(roles=("submission",), sections=TLS, start=False)
    srv.ports = [free_port()]
    srv.write_config()
    crypt_only = "\n".join(line.split(":scram-sha-256=")[0]
                           for line in srv.users_file.read_text().splitlines()) + "\n"
    srv.users_file.write_text(crypt_only)
    assert "scram" not in crypt_only
    srv.start(fresh_ports=False)
    with srv.tls_session() as c:
        assert c.cmd(f"AUTH PLAIN {b64(chr(0) + ALICE + chr(0) + PASSWORD)}").is_(235, "2.7.0")
    with srv.tls_session() as c:
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(b64(ALICE)).code == 334
        assert c.cmd(b64(PASSWORD)).is_(235, "2.7.0")
    with srv.tls_session() as c:
        assert scram_login(c, ScramClient(ALICE, PASSWORD)).is_(535, "5.7.8")
