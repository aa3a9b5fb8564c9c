"""Smarthost AUTH (issue 4): posthorn logs in to its smarthost after STARTTLS, with the
password read from [relay] smarthost_password_file, and delivers; a wrong password
leaves the mail deferred in the queue (4.7.0), never bounced, and never in the log.

The smarthost is aiosmtpd with a self-signed certificate (openssl), STARTTLS and AUTH
required (auth_require_tls), and an authenticator that records every login it sees.
"""

import base64
import json
import socket
import subprocess
import threading

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import free_port, run_cli
from peers import submit, wait_until
from smtpclient import make_message

SENDER = "alice@example.test"  # local: a bounce would land in her mailbox
RCPT = "bob@remote.test"
USER = "relay-user@example.test"
PASSWORD = "correct horse battery"


def self_signed(tmp_path):
    cert, key = tmp_path / "smarthost.crt", tmp_path / "smarthost.key"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
                    "ec_paramgen_curve:prime256v1", "-nodes", "-days", "1",
                    "-subj", "/CN=smarthost.test", "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return cert, key


class Smarthost:
    """aiosmtpd on 127.0.0.1 requiring STARTTLS and AUTH; records logins and messages."""

    def __init__(self, tmp_path, *, password: str = PASSWORD, mechanisms=("PLAIN", "LOGIN")):
        import ssl
        cert, key = self_signed(tmp_path)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cert, key)
        self.password = password
        self.lock = threading.Lock()
        self.logins: list[tuple[str, str, str, bool]] = []  # mechanism, login, password, ok
        self.messages: list[tuple[str, list[str], bytes, object]] = []
        self.port = free_port()
        excluded = [m for m in ("PLAIN", "LOGIN") if m not in mechanisms]
        self.controller = Controller(
            self, hostname="127.0.0.1", port=self.port, server_hostname="smarthost.test",
            tls_context=ctx, require_starttls=True, auth_required=True,
            auth_require_tls=True, authenticator=self.authenticate,
            auth_exclude_mechanism=excluded, decode_data=False, ready_timeout=10)

    def authenticate(self, server, session, envelope, mechanism, auth_data):
        assert isinstance(auth_data, LoginPassword)
        login = auth_data.login.decode()
        password = auth_data.password.decode()
        ok = login == USER and password == self.password
        with self.lock:
            self.logins.append((mechanism, login, password, ok))
        return AuthResult(success=ok, handled=False, auth_data=auth_data if ok else None)

    async def handle_DATA(self, server, session, envelope):
        with self.lock:
            self.messages.append((envelope.mail_from, list(envelope.rcpt_tos),
                                  envelope.content, session.auth_data))
        return "250 2.0.0 OK"

    def __enter__(self):
        self.controller.start()
        return self

    def __exit__(self, *exc):
        self.controller.stop()

    def describe(self) -> str:
        with self.lock:
            return f"logins {[(m, l, ok) for m, l, _, ok in self.logins]}, " \
                   f"{len(self.messages)} message(s)"


def make_auth_server(make_server, tmp_path, smart: Smarthost, relay_keys: str):
    """A server whose smarthost is `smart`, with `relay_keys` added to [relay]."""
    srv = make_server(start=False, smarthost=f"127.0.0.1:{smart.port}",
                      queue={"retry": ["1h"], "delay_warning": "0s", "max_lifetime": "1d"})
    write = srv.write_config

    def write_with_auth():
        write()
        text = srv.config_path.read_text(encoding="utf-8")
        assert "[relay]\n" in text
        srv.config_path.write_text(text.replace("[relay]\n", "[relay]\n" + relay_keys, 1),
                                   encoding="utf-8")

    srv.write_config = write_with_auth
    srv.start()
    return srv


def password_file(tmp_path, password: str):
    path = tmp_path / "relay.secret"
    path.write_text(password + "\n", encoding="utf-8")
    path.chmod(0o600)
    return path


@pytest.mark.parametrize("mechanism", ["PLAIN", "LOGIN"])
def test_smarthost_login_over_starttls_delivers(make_server, tmp_path, mechanism):
    pw = password_file(tmp_path, PASSWORD)
    mechanisms = ("PLAIN", "LOGIN") if mechanism == "PLAIN" else ("LOGIN",)
    with Smarthost(tmp_path, mechanisms=mechanisms) as smart:
        srv = make_auth_server(make_server, tmp_path, smart,
                               f'smarthost_user = "{USER}"\n'
                               f'smarthost_password_file = "{pw}"\n')
        submit(srv, SENDER, [RCPT], make_message(subject="via an authenticated smarthost"))
        wait_until(lambda: smart.messages, "the smarthost receives the message",
                   detail=lambda: smart.describe() + "\n" + srv.log_tail())
        srv.wait_spool_empty()
        with smart.lock:
            logins = list(smart.logins)
            (mail_from, rcpts, content, auth_data) = smart.messages[0]
        # PLAIN is preferred when offered; LOGIN is used when it is all there is.
        assert logins == [(mechanism, USER, PASSWORD, True)], smart.describe()
        assert mail_from == SENDER and rcpts == [RCPT]
        assert b"via an authenticated smarthost" in content
        log = srv.log_path.read_text(errors="replace")
        assert "status=sent" in log
        assert PASSWORD not in log


def test_wrong_password_defers_and_does_not_bounce(make_server, tmp_path):
    with Smarthost(tmp_path, password="something else") as smart:
        srv = make_auth_server(make_server, tmp_path, smart,
                               f'smarthost_user = "{USER}"\n'
                               f'smarthost_password = "{PASSWORD}"\n')
        submit(srv, SENDER, [RCPT], make_message(subject="wrong password"))
        wait_until(lambda: "status=deferred" in srv.log_path.read_text(errors="replace"),
                   "the recipient is deferred",
                   detail=lambda: smart.describe() + "\n" + srv.log_tail())
        # The outcome is recorded (queue state): a bounce, had one been made, would be
        # committed before that (a second queue file) or already in alice's Maildir.
        listed = wait_until(lambda: queued_deferred(srv), "the recipient is recorded deferred",
                            detail=lambda: smart.describe() + "\n" + srv.log_tail())
        assert len(listed) == 1, listed
        with smart.lock:
            assert smart.logins and all(not ok for *_, ok in smart.logins), smart.describe()
            assert not smart.messages
        assert srv.spool_files(), "the message stays queued"
        assert srv.mail(SENDER) == [], "no bounce to the sender"
        log = srv.log_path.read_text(errors="replace")
        deferred = [line for line in log.splitlines() if "status=deferred" in line]
        assert deferred and all("4.7.0" in line for line in deferred), deferred
        assert "status=bounced" not in log
        assert PASSWORD not in log


class RecordingPeer:
    """A bare SMTP server (one thread per connection) that offers AUTH PLAIN LOGIN but
    not STARTTLS, and records every octet it receives: what was on the wire."""

    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.received = bytearray()
        self.sessions_done = 0
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", self.port))
        self.sock.listen(8)
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn):
        with conn:
            conn.settimeout(30)
            f = conn.makefile("rwb", buffering=0)
            f.write(b"220 smarthost.test ESMTP\r\n")
            in_data = False
            try:
                for line in f:
                    with self.lock:
                        self.received += line
                    verb = line[:4].upper()
                    if in_data:
                        if line == b".\r\n":
                            in_data = False
                            f.write(b"250 2.0.0 OK\r\n")
                    elif verb == b"EHLO":
                        f.write(b"250-smarthost.test\r\n250-AUTH PLAIN LOGIN\r\n"
                                b"250 ENHANCEDSTATUSCODES\r\n")
                    elif verb == b"AUTH":
                        f.write(b"535 5.7.8 no\r\n")
                    elif verb == b"DATA":
                        in_data = True
                        f.write(b"354 go on\r\n")
                    elif verb == b"QUIT":
                        f.write(b"221 2.0.0 bye\r\n")
                        break
                    else:
                        f.write(b"250 2.0.0 OK\r\n")
            except OSError:
                pass
        with self.lock:
            self.sessions_done += 1

    def wire(self) -> bytes:
        with self.lock:
            return bytes(self.received)

    def close(self):
        self.sock.close()


def queued_deferred(srv) -> list | None:
    """`queue list --json` once the remote recipient is recorded deferred, else None."""
    r = run_cli("queue", "list", "--json", config=srv.config_path)
    assert r.returncode == 0, r.stderr
    listed = json.loads(r.stdout)
    rcpts = [x for m in listed for x in m["recipients"] if x["address"] == RCPT]
    return listed if rcpts and all(x["status"] == "deferred" for x in rcpts) else None


def test_no_starttls_no_password_on_the_wire(make_server, tmp_path):
    """A smarthost that offers AUTH but not STARTTLS never sees the credentials: the
    peer's record of every octet it received holds no AUTH command and neither the
    password nor its base64 forms (PLAIN, LOGIN); the mail waits in the queue."""
    peer = RecordingPeer()
    try:
        srv = make_auth_server(make_server, tmp_path, peer,
                               f'smarthost_user = "{USER}"\n'
                               f'smarthost_password = "{PASSWORD}"\n')
        submit(srv, SENDER, [RCPT], make_message(subject="no tls"))
        wait_until(lambda: queued_deferred(srv), "the recipient is recorded deferred",
                   detail=srv.log_tail)
        # The server has finished with the peer (QUIT or hang-up): its record is complete.
        wait_until(lambda: peer.sessions_done >= 1, "the session with the peer ends",
                   detail=lambda: repr(peer.wire()))
        wire = peer.wire()
        assert wire.upper().startswith(b"EHLO "), wire
        assert b"\r\nAUTH" not in wire.upper() and not wire.upper().startswith(b"AUTH"), wire
        secrets = [PASSWORD.encode(), base64.b64encode(PASSWORD.encode()),
                   base64.b64encode(f"\0{USER}\0{PASSWORD}".encode()),
                   base64.b64encode(f"{USER}\0{USER}\0{PASSWORD}".encode())]
        for secret in secrets:
            assert secret not in wire, (secret, wire)
        assert b"MAIL FROM" not in wire.upper(), "no mail without the login it needs"
        log = srv.log_path.read_text(errors="replace")
        assert "smarthost requires TLS for AUTH" in log
        assert PASSWORD not in log
        assert srv.spool_files()
    finally:
        peer.close()
