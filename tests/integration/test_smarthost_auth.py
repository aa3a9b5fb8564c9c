"""Smarthost AUTH (issue 4): posthorn logs in to its smarthost after STARTTLS, with the
password read from [relay] smarthost_password_file, and delivers; a wrong password
leaves the mail deferred in the queue (4.7.0), never bounced, and never in the log.

The smarthost is aiosmtpd with a self-signed certificate (openssl), STARTTLS and AUTH
required (auth_require_tls), and an authenticator that records every login it sees.
"""

import subprocess
import threading
import time

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import AuthResult, LoginPassword

from conftest import free_port
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
        time.sleep(0.5)  # a bounce, if one were made, would be delivered locally by now
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


def test_no_starttls_no_password_on_the_wire(make_server, tmp_path):
    """A smarthost without STARTTLS never sees the credentials: the mail waits."""
    seen: list[bytes] = []

    class Plain:
        async def handle_DATA(self, server, session, envelope):
            seen.append(envelope.content)
            return "250 2.0.0 OK"

    port = free_port()
    controller = Controller(Plain(), hostname="127.0.0.1", port=port,
                            auth_require_tls=False, decode_data=False, ready_timeout=10)
    controller.start()
    try:
        class Where:
            pass
        where = Where()
        where.port = port
        srv = make_auth_server(make_server, tmp_path, where,
                               f'smarthost_user = "{USER}"\n'
                               f'smarthost_password = "{PASSWORD}"\n')
        submit(srv, SENDER, [RCPT], make_message(subject="no tls"))
        wait_until(lambda: "status=deferred" in srv.log_path.read_text(errors="replace"),
                   "the recipient is deferred", detail=srv.log_tail)
        log = srv.log_path.read_text(errors="replace")
        assert "smarthost requires TLS for AUTH" in log
        assert not seen
        assert srv.spool_files()
    finally:
        controller.stop()
