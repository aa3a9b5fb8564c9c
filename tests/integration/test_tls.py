"""TLS (issue 3): STARTTLS (RFC 3207) on mx and submission listeners, implicit TLS
(RFC 8314) on submissions, TLS 1.2/1.3 with AEAD ciphers only, session resumption with
and without tickets, and the Received: header naming the protocol and cipher.

Real clients: Python's ssl/smtplib, swaks, curl and openssl s_client. The servers'
certificates are self-signed ([tls] self_signed = true) and never verified here.
"""

import json
import os
import re
import shutil
import signal
import smtplib
import socket
import ssl
import subprocess
import time

import pytest

from conftest import (HOSTNAME, assert_delivered, client_tls_context, free_port,
                      parse_delivered, queue_id_of, start_tls)
from smtpclient import SmtpConn, make_message

ROLES = ("mx", "submission", "submissions")
TLS_RECEIVED_RE = re.compile(r"\(using (TLSv1\.[23]) with cipher ([A-Za-z0-9_-]+)\)")
NO_PROXY = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}


@pytest.fixture
def tls_server(make_server):
    """mx, submission and submissions listeners with a generated certificate."""
    return make_server(roles=ROLES, sections={"tls": {"self_signed": True}})


def keywords(ehlo_reply) -> set[str]:
    return {line.split()[0].upper() for line in ehlo_reply.lines[1:] if line.strip()}


def s_client(port: int, *args: str, starttls: bool = True, commands: str | None = "QUIT\n",
             timeout: float = 30) -> subprocess.CompletedProcess:
    """openssl s_client against 127.0.0.1:port; `commands` are typed after the handshake
    (LF, sent as CRLF), and -ign_eof keeps it reading to the server's close, so TLS 1.3
    tickets sent after the handshake are seen. commands=None: quit after the handshake."""
    cmd = ["openssl", "s_client", "-connect", f"127.0.0.1:{port}", "-crlf"]
    if commands is not None:
        cmd.append("-ign_eof")
    if starttls:
        cmd += ["-starttls", "smtp"]
    return subprocess.run(cmd + list(args), input=commands or "", capture_output=True, text=True,
                          timeout=timeout)


def handshake_summary(r: subprocess.CompletedProcess) -> str | None:
    """s_client's "New, TLSv1.3, Cipher is ..." / "Reused, ..." line, None when the
    handshake failed."""
    m = re.search(r"^(New|Reused), (TLSv1\.\d|SSLv3|\(NONE\)), Cipher is (\S+)$", r.stdout, re.M)
    if not m or m.group(3) == "(NONE)":
        return None
    return m.group(0)


# -- STARTTLS ---------------------------------------------------------------------------

def test_starttls_is_advertised_on_mx_and_submission_but_not_on_submissions(tls_server):
    for role in ("mx", "submission"):
        with tls_server.session(port=tls_server.port_for(role)) as c:
            assert "STARTTLS" in keywords(c.cmd("EHLO client.example.net")), role
    with tls_server.connect_tls() as c:
        assert "STARTTLS" not in keywords(c.cmd("EHLO client.example.net"))


def test_no_starttls_offered_without_a_certificate(server):
    with server.session() as c:
        r = c.cmd("EHLO client.example.net")
        assert "STARTTLS" not in keywords(r)
        assert c.cmd("STARTTLS").is_(454, "4.7.0")


def test_smtplib_starttls_on_mx_delivers_with_esmtps_and_cipher_in_received(tls_server):
    msg = make_message(subject="over STARTTLS")
    with smtplib.SMTP("127.0.0.1", tls_server.port_for("mx"), local_hostname="client.example.net",
                      timeout=15) as s:
        s.ehlo()
        assert s.has_extn("starttls")
        code, _ = s.starttls(context=client_tls_context())
        assert code == 220
        s.ehlo()
        assert not s.has_extn("starttls")
        code, _ = s.mail("someone@example.net")
        assert code == 250
        code, _ = s.rcpt("alice@example.test")
        assert code == 250
        code, resp = s.data(msg)
        assert code == 250
        version = s.sock.version()
        cipher = s.sock.cipher()[0]
    qid = queue_id_of(f"{code} {resp.decode()}")
    (raw,) = tls_server.wait_for_mail("alice@example.test")
    d = assert_delivered(raw, sender="someone@example.net", rcpt="alice@example.test",
                         queue_id=qid, message_crlf=msg, protocol="ESMTPS")
    m = TLS_RECEIVED_RE.search(d.received)
    assert m, d.received
    assert (m.group(1), m.group(2)) == (version, cipher), d.received


def test_swaks_tls_on_mx_delivers_with_esmtps(tls_server):
    r = subprocess.run(
        ["swaks", "--server", f"127.0.0.1:{tls_server.port_for('mx')}", "--tls",
         "--to", "bob@example.test", "--from", "someone@example.net",
         "--helo", "client.example.net", "--timeout", "15"],
        capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    # swaks marks lines sent and received inside TLS with "~>" and "<~".
    m = re.search(r"^<~  (250 2\.0\.0 Ok: queued as \S+)", r.stdout, re.M)
    assert m, r.stdout
    qid = queue_id_of(m.group(1))
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    d = parse_delivered(raw)
    assert re.search(rf"\bwith ESMTPS id {re.escape(qid)}\b", d.received), d.received
    assert TLS_RECEIVED_RE.search(d.received), d.received


def test_curl_ssl_reqd_on_mx_delivers_with_esmtps(tls_server, tmp_path):
    msg = make_message(subject="curl over STARTTLS")
    f = tmp_path / "msg.txt"
    f.write_bytes(msg)
    r = subprocess.run(
        ["curl", "-sS", "-v", "--max-time", "30", "--ssl-reqd", "--insecure",
         f"smtp://127.0.0.1:{tls_server.port_for('mx')}", "--mail-from", "someone@example.net",
         "--mail-rcpt", "alice@example.test", "--upload-file", str(f)],
        capture_output=True, text=True, timeout=60, env=NO_PROXY)
    assert r.returncode == 0, r.stderr
    assert re.search(r"^> STARTTLS", r.stderr, re.M), r.stderr
    m = re.search(r"^< (250 2\.0\.0 Ok: queued as \S+)", r.stderr, re.M)
    assert m, r.stderr
    (raw,) = tls_server.wait_for_mail("alice@example.test")
    assert_delivered(raw, sender="someone@example.net", rcpt="alice@example.test",
                     queue_id=queue_id_of(m.group(1)), message_crlf=msg, protocol="ESMTPS")


def test_openssl_s_client_starttls_on_submission_negotiates_tls13(tls_server):
    r = s_client(tls_server.port_for("submission"), commands="EHLO client.example.net\nQUIT\n")
    assert handshake_summary(r) is not None, r.stdout + r.stderr
    assert re.search(r"^\s*Protocol\s*: TLSv1\.3$", r.stdout, re.M), r.stdout
    # Inside TLS the submission listener offers AUTH and no more STARTTLS.
    assert "250-AUTH SCRAM-SHA-256-PLUS SCRAM-SHA-256 PLAIN LOGIN" in r.stdout, r.stdout
    after_handshake = r.stdout.split("Verify return code", 1)[-1]
    assert "STARTTLS" not in after_handshake, r.stdout
    assert f"221 {HOSTNAME}" in r.stdout, r.stdout


def test_starttls_is_not_advertised_after_tls_and_a_second_starttls_is_503_551(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("mx")) as c:
        r = c.cmd("EHLO client.example.net")
        assert "STARTTLS" not in keywords(r), r
        assert c.cmd("STARTTLS").is_(503, "5.5.1")
        # The session goes on inside TLS.
        assert c.cmd("NOOP").is_(250)


def test_commands_pipelined_after_starttls_are_not_answered_inside_tls(tls_server):
    # CVE-2011-0411: a man in the middle appends commands to the cleartext STARTTLS; a
    # vulnerable server runs them as if the client had sent them inside TLS.
    with tls_server.session(port=tls_server.port_for("mx")) as c:
        c.send(b"STARTTLS\r\nNOOP\r\n")
        r = c.read_reply()
        assert r.is_(220), r
        start_tls(c)  # also checks that nothing followed the 220 in the clear
        c.send(b"EHLO inside.example.net\r\nQUIT\r\n")
        first = c.read_reply()
        # The first reply inside TLS answers our EHLO, not the injected NOOP ("250 2.0.0 Ok").
        assert first.code == 250 and first.lines[0].split()[0] == HOSTNAME, first
        assert len(first.lines) > 1, first
        assert c.read_reply().code == 221
        assert c.closed_by_server()


def test_injected_mail_transaction_after_starttls_is_not_run(tls_server):
    with tls_server.session(port=tls_server.port_for("mx")) as c:
        c.send(b"STARTTLS\r\nMAIL FROM:<evil@example.net>\r\nRCPT TO:<alice@example.test>\r\n")
        assert c.read_reply().is_(220)
        start_tls(c)
        assert c.cmd("EHLO client.example.net").code == 250
        # Had the injected MAIL run, RCPT would now be accepted and MAIL nested.
        assert c.cmd("RCPT TO:<alice@example.test>").is_(503, "5.5.1")
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(250)


def test_mail_right_after_the_handshake_without_ehlo_is_503_551(tls_server):
    # RFC 3207 §4.2: everything from before TLS is forgotten, the EHLO included.
    with tls_server.session(port=tls_server.port_for("mx")) as c:
        assert c.cmd("STARTTLS").is_(220)
        start_tls(c)
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(503, "5.5.1")
        assert c.cmd("EHLO client.example.net").code == 250
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(250)


def test_starttls_during_a_mail_transaction_is_refused(tls_server):
    with tls_server.session(port=tls_server.port_for("mx")) as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("STARTTLS").is_(503, "5.5.1")


# -- implicit TLS -------------------------------------------------------------------------

def test_submissions_greets_inside_tls(tls_server):
    with tls_server.connect_tls() as c:
        assert c.banner.code == 220
        assert c.banner.lines == [f"{HOSTNAME} ESMTP posthorn"]
        assert c.sock.version() in ("TLSv1.2", "TLSv1.3")
        r = c.cmd("EHLO client.example.net")
        assert {"AUTH", "PIPELINING"} <= keywords(r), r
        assert c.cmd("STARTTLS").is_(503, "5.5.1")


def test_submissions_sends_nothing_in_the_clear(tls_server):
    # RFC 8314 §3.3: TLS from the first octet; a cleartext client never sees a 220.
    with SmtpConn(tls_server.port_for("submissions"), read_banner=False, timeout=15) as c:
        c.send(b"EHLO client.example.net\r\n")
        got = b""
        try:
            while chunk := c.sock.recv(4096):
                got += chunk
        except (ConnectionResetError, socket.timeout, TimeoutError):
            pass
        assert not got.startswith(b"220"), got
        assert b"ESMTP" not in got, got


def test_openssl_s_client_on_submissions_reads_the_greeting(tls_server):
    r = s_client(tls_server.port_for("submissions"), starttls=False,
                 commands="EHLO client.example.net\nQUIT\n")
    assert handshake_summary(r) is not None, r.stdout + r.stderr
    assert f"220 {HOSTNAME} ESMTP posthorn" in r.stdout, r.stdout
    assert f"221 {HOSTNAME}" in r.stdout


# -- protocol versions and ciphers --------------------------------------------------------

@pytest.fixture
def permissive_tls_peer(tmp_path):
    """An openssl s_server with an ECDSA and an RSA key accepting TLS 1.0-1.2 and every
    cipher: proves that the client options below really offer what posthorn refuses."""
    files = {}
    for kind, opts in (("ec", ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"]),
                       ("rsa", ["-newkey", "rsa:2048"])):
        key, cert = tmp_path / f"peer-{kind}.key", tmp_path / f"peer-{kind}.crt"
        subprocess.run(["openssl", "req", "-x509", *opts, "-nodes", "-keyout", str(key),
                        "-out", str(cert), "-subj", "/CN=peer.example.test", "-days", "1"],
                       check=True, capture_output=True, timeout=60)
        files[kind] = (str(cert), str(key))
    port = free_port()
    proc = subprocess.Popen(
        ["openssl", "s_server", "-accept", f"127.0.0.1:{port}", "-cert", files["ec"][0],
         "-key", files["ec"][1], "-dcert", files["rsa"][0], "-dkey", files["rsa"][1],
         "-cipher", "ALL:@SECLEVEL=0", "-no_tls1_3", "-quiet"],
        stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if proc.poll() is not None or time.monotonic() > deadline:
                    pytest.fail("openssl s_server did not start", pytrace=False)
                time.sleep(0.05)
        yield port
    finally:
        proc.kill()
        proc.wait()


OLD_OR_WEAK = {
    "tls1": ("-tls1", "-cipher", "DEFAULT:@SECLEVEL=0"),
    "tls1_1": ("-tls1_1", "-cipher", "DEFAULT:@SECLEVEL=0"),
    # TLS 1.2 with CBC and SHA-1 MACs (ECDHE, so the server's ECDSA key could sign it).
    "tls1_2-cbc-sha1": ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES128-SHA:@SECLEVEL=0"),
    "tls1_2-cbc-sha256": ("-tls1_2", "-cipher", "ECDHE-ECDSA-AES256-SHA384:ECDHE-ECDSA-AES128-SHA256"),
    # No forward secrecy: static RSA key exchange.
    "tls1_2-no-ecdhe": ("-tls1_2", "-cipher", "AES128-GCM-SHA256:AES256-GCM-SHA384:@SECLEVEL=0"),
}


@pytest.mark.parametrize("name", sorted(OLD_OR_WEAK))
def test_old_protocol_or_weak_cipher_is_refused_on_starttls(tls_server, permissive_tls_peer, name):
    args = OLD_OR_WEAK[name]
    control = s_client(permissive_tls_peer, *args, starttls=False, commands=None)
    assert handshake_summary(control) is not None, \
        f"the client cannot even speak {name} to a permissive server:\n{control.stdout}"
    r = s_client(tls_server.port_for("mx"), *args)
    assert handshake_summary(r) is None, r.stdout
    assert r.returncode != 0


@pytest.mark.parametrize("name", ["tls1", "tls1_1", "tls1_2-cbc-sha1"])
def test_old_protocol_or_weak_cipher_is_refused_on_submissions(tls_server, name):
    r = s_client(tls_server.port_for("submissions"), *OLD_OR_WEAK[name], starttls=False)
    assert handshake_summary(r) is None, r.stdout


@pytest.mark.parametrize("version,cipher", [
    ("-tls1_2", "ECDHE-ECDSA-AES128-GCM-SHA256"),
    ("-tls1_2", "ECDHE-ECDSA-CHACHA20-POLY1305"),
    ("-tls1_3", None),
])
def test_modern_protocol_and_aead_cipher_are_accepted(tls_server, version, cipher):
    args = [version] + (["-cipher", cipher] if cipher else [])
    r = s_client(tls_server.port_for("mx"), *args)
    summary = handshake_summary(r)
    assert summary is not None, r.stdout + r.stderr
    if cipher:
        assert summary.endswith(f"Cipher is {cipher}"), summary


# -- session resumption -------------------------------------------------------------------

def resume(port: int, version: str, sess: str) -> tuple[str | None, str | None]:
    """A full handshake saving the session, then one offering it: both summaries."""
    first = s_client(port, version, "-sess_out", sess)
    if not os.path.exists(sess):
        return handshake_summary(first), None
    second = s_client(port, version, "-sess_in", sess)
    return handshake_summary(first), handshake_summary(second)


@pytest.mark.parametrize("version", ["-tls1_3", "-tls1_2"])
def test_session_resumes_with_tickets(tls_server, tmp_path, version):
    first, second = resume(tls_server.port_for("mx"), version, str(tmp_path / "sess.pem"))
    assert first and first.startswith("New,"), first
    assert second and second.startswith("Reused,"), second


def test_tickets_off_sends_no_tls13_ticket(make_server, tmp_path):
    srv = make_server(sections={"tls": {"self_signed": True, "session_tickets": False}})
    sess = tmp_path / "sess.pem"
    r = s_client(srv.port, "-tls1_3", "-sess_out", str(sess))
    assert (handshake_summary(r) or "").startswith("New, TLSv1.3"), r.stdout
    # s_client saves a TLS 1.3 session only when a NewSessionTicket arrives.
    assert not sess.exists(), "a TLS 1.3 session ticket was sent with session_tickets = false"
    assert "TLS session ticket" not in r.stdout


def test_tickets_off_tls12_still_resumes_from_the_session_cache(make_server, tmp_path):
    # docs/config.md: "false sends no tickets; TLS 1.2 clients can still resume from the
    # server's session cache".
    srv = make_server(sections={"tls": {"self_signed": True, "session_tickets": False}})
    first, second = resume(srv.port, "-tls1_2", str(tmp_path / "sess.pem"))
    assert first and first.startswith("New, TLSv1.2"), first
    assert second and second.startswith("Reused, TLSv1.2"), \
        f"TLS 1.2 session-ID resumption failed: {second}"


# -- certificate reload -----------------------------------------------------------------------

def wait_log(srv, needle: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in srv.log_tail(400):
        assert time.monotonic() < deadline, f"no {needle!r} in the log:\n{srv.log_tail()}"
        time.sleep(0.05)


def replace_certificate(srv, cn: str) -> bytes:
    """A new ECDSA key and self-signed certificate where [tls] points (the generated
    files' place), each swapped in by rename; returns the certificate in DER."""
    tls_dir = srv.state_dir / "tls"
    key, cert = tls_dir / "new-key.pem", tls_dir / "new-cert.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:P-256", "-nodes", "-keyout", str(key), "-out", str(cert),
                    "-subj", f"/CN={cn}", "-days", "2"], check=True, capture_output=True,
                   timeout=60)
    os.rename(key, tls_dir / "key.pem")
    os.rename(cert, tls_dir / "cert.pem")
    return ssl.PEM_cert_to_DER_cert((tls_dir / "cert.pem").read_text())


def test_sighup_loads_a_new_certificate_and_running_tls_sessions_go_on(tls_server):
    mx = tls_server.port_for("mx")
    with tls_server.tls_session(port=mx) as old:
        before = old.sock.getpeercert(binary_form=True)
        new = replace_certificate(tls_server, HOSTNAME)
        assert new != before
        tls_server.proc.send_signal(signal.SIGHUP)
        wait_log(tls_server, "event=reload what=tls")
        # New connections, STARTTLS and implicit TLS alike, get the new certificate...
        with tls_server.tls_session(port=mx) as c:
            assert c.sock.getpeercert(binary_form=True) == new
        with tls_server.connect_tls() as c:
            assert c.sock.getpeercert(binary_form=True) == new
        # ...and the session that started before goes on with its own.
        assert old.cmd("NOOP").is_(250)
        old.send_mail("someone@example.net", ["alice@example.test"], make_message())
    tls_server.wait_for_mail("alice@example.test")


def test_a_session_saved_before_a_certificate_reload_resumes_after_it(tls_server, tmp_path):
    # docs/config.md: ticket keys are kept across a reload, so clients still resume.
    sess = tmp_path / "sess.pem"
    first = s_client(tls_server.port_for("mx"), "-tls1_3", "-sess_out", str(sess))
    assert (handshake_summary(first) or "").startswith("New,"), first.stdout
    replace_certificate(tls_server, HOSTNAME)
    tls_server.proc.send_signal(signal.SIGHUP)
    wait_log(tls_server, "event=reload what=tls")
    second = s_client(tls_server.port_for("mx"), "-tls1_3", "-sess_in", str(sess))
    assert (handshake_summary(second) or "").startswith("Reused,"), second.stdout


# -- testssl.sh ----------------------------------------------------------------------------

def test_testssl_finds_no_old_protocol_and_no_weak_cipher_on_starttls(tls_server, tmp_path):
    # Debian's testssl.sh package (scripts/bootstrap) installs it as `testssl`. Only the
    # protocol (-p) and cipher category (-s) checks: the full run takes over a minute; its
    # result is in docs/tls.md.
    exe = shutil.which("testssl") or shutil.which("testssl.sh")
    assert exe, "testssl.sh is not installed (Debian package testssl.sh, scripts/bootstrap)"
    out = tmp_path / "testssl.json"
    r = subprocess.run([exe, "--quiet", "--color", "0", "--warnings", "off", "--jsonfile",
                        str(out), "-p", "-s", "--starttls", "smtp",
                        f"127.0.0.1:{tls_server.port_for('mx')}"],
                       capture_output=True, text=True, timeout=300)
    assert out.exists(), r.stdout + r.stderr
    findings = {x["id"]: x["finding"] for x in json.loads(out.read_text())}
    for proto in ("SSLv2", "SSLv3", "TLS1", "TLS1_1"):
        assert findings.get(proto) == "not offered", (proto, findings)
    assert findings.get("TLS1_2") == "offered", findings
    assert findings.get("TLS1_3", "").startswith("offered"), findings
    for category in ("NULL", "aNULL", "EXPORT", "LOW", "3DES_IDEA", "AVERAGE"):
        assert findings.get(f"cipherlist_{category}") == "not offered", (category, findings)
    assert findings.get("cipherlist_STRONG") == "offered", findings
