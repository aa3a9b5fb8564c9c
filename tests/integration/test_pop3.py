"""The POP3 server (issue 12, DESIGN.md §4.6) with real clients: Python's poplib (plain
with allow_plaintext_auth, STLS, pop3s), curl pop3:// and pop3s://, and mpop. Mail is
delivered through SMTP first; what RETR returns is checked byte for byte against the
Maildir file; DELE takes effect at QUIT only, UIDL stays across restarts, a second
session gets [IN-USE]."""

import os
import poplib
import re
import shutil
import socket
import subprocess

import pytest

from conftest import PASSWORD, client_tls_context
from smtpclient import make_message

ALICE = "alice@example.test"
TLS = {"tls": {"self_signed": True}}
NO_PROXY = {**os.environ, "NO_PROXY": "*", "no_proxy": "*"}


def pop3_server(make_server, plaintext=True, roles=("mx", "pop3"), **kw):
    opts = {"allow_plaintext_auth": True} if plaintext else {}
    return make_server(roles=roles, listen_options=opts, **kw)


def deliver(srv, messages: list[bytes], rcpt: str = ALICE) -> list[bytes]:
    """Sends each message over SMTP and waits for the Maildir files; returns the files'
    octets in delivery order."""
    before = len(srv.mail(rcpt))
    with srv.session(port=srv.port_for("mx")) as c:
        for m in messages:
            c.send_mail("sender@example.net", [rcpt], m)
        c.quit()
    return srv.wait_for_mail(rcpt, before + len(messages))[before:]


def crlf(lf: bytes) -> bytes:
    """What POP3 sends for a Maildir file (LF line ends), before dot-stuffing."""
    out = lf.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    return out if out.endswith(b"\r\n") else out + b"\r\n"


def stuffed(data: bytes) -> bytes:
    return b"\r\n".join(b"." + l if l.startswith(b".") else l
                        for l in data.split(b"\r\n"))


MESSAGES = [
    make_message(subject="first", body="Hello.\r\n.A line with a leading dot\r\n..two\r\n"),
    make_message(subject="second", body="x" * 900 + "\r\n\r\nlast line\r\n"),
]


class RawPop3:
    """A POP3 client on a socket that shows the exact octets (poplib unstuffs)."""

    def __init__(self, port, tls=False):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=15)
        if tls:
            self.sock = client_tls_context().wrap_socket(self.sock)
        self.buf = b""
        self.greeting = self.line()

    def line(self) -> bytes:
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError(f"closed; have {self.buf!r}")
            self.buf += chunk
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def cmd(self, text: str) -> bytes:
        self.sock.sendall(text.encode() + b"\r\n")
        return self.line()

    def multiline(self) -> bytes:
        """The octets up to and including CRLF.CRLF, exactly as sent."""
        while b"\r\n.\r\n" not in b"\r\n" + self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("closed in a multi-line response")
            self.buf += chunk
        data = b"\r\n" + self.buf
        end = data.index(b"\r\n.\r\n") + 5
        out, self.buf = data[2:end], data[end:]
        return out

    def close(self):
        self.sock.close()


def login(port, user=ALICE, password=PASSWORD) -> poplib.POP3:
    p = poplib.POP3("127.0.0.1", port, timeout=15)
    p.user(user)
    p.pass_(password)
    return p


def test_poplib_retrieves_exactly_what_smtp_delivered(make_server):
    srv = pop3_server(make_server)
    files = deliver(srv, MESSAGES)
    p = login(srv.port_for("pop3"))
    count, size = p.stat()
    assert count == 2
    assert size == sum(len(crlf(f)) for f in files)
    resp, listing, _ = p.list()
    assert listing == [f"{i + 1} {len(crlf(f))}".encode() for i, f in enumerate(files)]
    for i, f in enumerate(files):
        resp, lines, octets = p.retr(i + 1)
        assert resp == f"+OK {len(crlf(f))} octets".encode()
        assert b"\r\n".join(lines) + b"\r\n" == crlf(f)
    # The message as sent over SMTP is there, after our trace headers.
    assert crlf(files[0]).endswith(MESSAGES[0])
    assert p.quit().startswith(b"+OK")


def test_retr_on_the_wire_is_dot_stuffed_with_exact_octet_counts(make_server):
    srv = pop3_server(make_server)
    files = deliver(srv, MESSAGES[:1])
    c = RawPop3(srv.port_for("pop3"))
    assert c.greeting == b"+OK mx.example.test POP3 server ready"
    assert c.cmd("USER " + ALICE) == b"+OK"
    assert c.cmd("PASS " + PASSWORD).startswith(b"+OK Logged in, 1 messages")
    assert c.cmd("RETR 1") == f"+OK {len(crlf(files[0]))} octets".encode()
    assert c.multiline() == stuffed(crlf(files[0])) + b".\r\n"
    assert b"\r\n..A line with a leading dot\r\n...two\r\n" in stuffed(crlf(files[0]))
    # TOP 1 0: the header and the blank line.
    assert c.cmd("TOP 1 0") == b"+OK Top of message follows"
    head = crlf(files[0]).split(b"\r\n\r\n", 1)[0] + b"\r\n\r\n"
    assert c.multiline() == head + b".\r\n"
    assert c.cmd("QUIT").startswith(b"+OK")
    c.close()


def test_pipelined_commands_are_answered_in_order(make_server):
    srv = pop3_server(make_server)
    files = deliver(srv, MESSAGES)
    c = RawPop3(srv.port_for("pop3"))
    c.sock.sendall(f"CAPA\r\nUSER {ALICE}\r\nPASS {PASSWORD}\r\nSTAT\r\nLIST 2\r\nUIDL\r\n"
                   "NOOP\r\nQUIT\r\n".encode())
    capa = c.line() + b"\r\n" + c.multiline()
    assert b"\r\nPIPELINING\r\n" in capa and b"\r\nUSER\r\n" in capa
    assert c.line() == b"+OK"
    assert c.line().startswith(b"+OK Logged in, 2 messages")
    assert c.line() == f"+OK 2 {sum(len(crlf(f)) for f in files)}".encode()
    assert c.line() == f"+OK 2 {len(crlf(files[1]))}".encode()
    assert c.line() == b"+OK Unique-ID listing follows"
    uidl = c.multiline()
    assert uidl.count(b"\r\n") == 3
    assert c.line() == b"+OK"
    assert c.line().startswith(b"+OK Logging out")
    c.close()


def test_wrong_password_is_auth_error(make_server):
    srv = pop3_server(make_server)
    p = poplib.POP3("127.0.0.1", srv.port_for("pop3"), timeout=15)
    p.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Authentication failed"):
        p.pass_("wrong")
    srv.wait_log(r"event=auth-failed client=\[127\.0\.0\.1\] protocol=pop3 "
                 r'user="alice@example\.test"')
    p.close()


def test_no_password_before_stls_and_poplib_logs_in_after_it(make_server):
    srv = pop3_server(make_server, plaintext=False, sections=TLS)
    port = srv.port_for("pop3")
    p = poplib.POP3("127.0.0.1", port, timeout=15)
    caps = p.capa()
    assert "STLS" in caps and "USER" not in caps and "SASL" not in caps
    with pytest.raises(poplib.error_proto, match=r"-ERR \[AUTH\] Plaintext authentication "
                                                 r"disallowed"):
        p.user(ALICE)
    p.stls(context=client_tls_context())
    caps = p.capa()
    assert "USER" in caps and "STLS" not in caps
    assert caps["SASL"] == ["SCRAM-SHA-256-PLUS", "SCRAM-SHA-256", "PLAIN", "LOGIN"] or \
        caps["SASL"] == ["SCRAM-SHA-256", "PLAIN", "LOGIN"]
    files = deliver(srv, MESSAGES[:1])
    p.user(ALICE)
    p.pass_(PASSWORD)
    resp, lines, _ = p.retr(1)
    assert b"\r\n".join(lines) + b"\r\n" == crlf(files[0])
    p.quit()


def test_pop3s_is_tls_from_the_first_octet(make_server):
    srv = pop3_server(make_server, plaintext=False, roles=("mx", "pop3s"), sections=TLS)
    files = deliver(srv, MESSAGES)
    p = poplib.POP3_SSL("127.0.0.1", srv.port_for("pop3s"), timeout=15,
                        context=client_tls_context())
    assert "STLS" not in p.capa()
    p.user(ALICE)
    p.pass_(PASSWORD)
    resp, lines, _ = p.retr(2)
    assert b"\r\n".join(lines) + b"\r\n" == crlf(files[1])
    p.quit()


def test_auth_plain_over_poplib(make_server):
    srv = pop3_server(make_server)
    deliver(srv, MESSAGES[:1])
    p = poplib.POP3("127.0.0.1", srv.port_for("pop3"), timeout=15)
    import base64
    token = base64.b64encode(f"\0{ALICE}\0{PASSWORD}".encode()).decode()
    assert p._shortcmd(f"AUTH PLAIN {token}").startswith(b"+OK Logged in, 1 messages")
    assert p.stat()[0] == 1
    p.quit()


def test_dele_takes_effect_at_quit_and_a_dropped_connection_changes_nothing(make_server):
    srv = pop3_server(make_server)
    deliver(srv, MESSAGES)
    box = srv.mailbox(ALICE)
    # Dropped after DELE and RETR: nothing changes.
    p = login(srv.port_for("pop3"))
    p.retr(2)
    p.dele(1)
    p.sock.shutdown(socket.SHUT_RDWR)  # dropped without QUIT
    p.close()
    srv.wait_log(r"event=disconnect client=\[127\.0\.0\.1\] protocol=pop3 user=<alice")
    assert len(list((box / "new").iterdir())) == 2
    assert not list((box / "cur").iterdir())
    # RSET undoes DELE.
    p = login(srv.port_for("pop3"))
    p.dele(1)
    p.rset()
    p.quit()
    assert len(list((box / "new").iterdir())) == 2
    # DELE 1 and RETR 2, then QUIT: 1 is gone, 2 is in cur/ marked seen.
    names = sorted(f.name for f in (box / "new").iterdir())
    p = login(srv.port_for("pop3"))
    p.dele(1)
    p.retr(2)
    assert p.quit() == b"+OK Logging out, 1 deleted, 1 left"
    assert list((box / "new").iterdir()) == []
    assert [f.name for f in (box / "cur").iterdir()] == [names[1] + ":2,S"]
    p = login(srv.port_for("pop3"))
    assert p.stat()[0] == 1
    p.quit()


def test_uidl_is_stable_across_moves_and_restarts(make_server):
    srv = pop3_server(make_server)
    deliver(srv, MESSAGES)
    p = login(srv.port_for("pop3"))
    first = p.uidl()[1]
    names = sorted(f.name for f in (srv.mailbox(ALICE) / "new").iterdir())
    assert first == [f"{i + 1} {n.split(',')[0]}".encode() for i, n in enumerate(names)]
    p.retr(1)  # moved to cur/ at QUIT: the id stays
    p.quit()
    assert srv.stop() == 0
    srv.restart()
    p = login(srv.port_for("pop3"))
    assert p.uidl()[1] == first
    p.quit()


def test_second_session_on_a_mailbox_is_in_use(make_server):
    srv = pop3_server(make_server)
    deliver(srv, MESSAGES[:1])
    first = login(srv.port_for("pop3"))
    second = poplib.POP3("127.0.0.1", srv.port_for("pop3"), timeout=15)
    second.user(ALICE)
    with pytest.raises(poplib.error_proto, match=r"-ERR \[IN-USE\]"):
        second.pass_(PASSWORD)
    first.quit()
    second.user(ALICE)
    assert second.pass_(PASSWORD).startswith(b"+OK Logged in")
    second.quit()
    # bob's mailbox is his own: not in use.
    third = login(srv.port_for("pop3"), user="bob@example.test")
    third.quit()


def curl(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["curl", "--silent", "--show-error", "--max-time", "30", *args],
                          capture_output=True, env=NO_PROXY, timeout=60)


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_pop3_lists_and_retrieves(make_server):
    srv = pop3_server(make_server)
    files = deliver(srv, MESSAGES)
    url = f"pop3://127.0.0.1:{srv.port_for('pop3')}"
    r = curl("--user", f"{ALICE}:{PASSWORD}", url + "/")
    assert r.returncode == 0, r.stderr
    assert r.stdout == b"".join(f"{i + 1} {len(crlf(f))}\r\n".encode()
                                for i, f in enumerate(files))
    r = curl("--user", f"{ALICE}:{PASSWORD}", url + "/1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == crlf(files[0])


@pytest.mark.skipif(shutil.which("curl") is None, reason="curl not installed")
def test_curl_pop3s_and_stls(make_server):
    srv = pop3_server(make_server, plaintext=False, roles=("mx", "pop3", "pop3s"), sections=TLS)
    files = deliver(srv, MESSAGES)
    r = curl("--insecure", "--user", f"{ALICE}:{PASSWORD}",
             f"pop3s://127.0.0.1:{srv.port_for('pop3s')}/2")
    assert r.returncode == 0, r.stderr
    assert r.stdout == crlf(files[1])
    r = curl("--insecure", "--ssl-reqd", "--user", f"{ALICE}:{PASSWORD}",
             f"pop3://127.0.0.1:{srv.port_for('pop3')}/1")
    assert r.returncode == 0, r.stderr
    assert r.stdout == crlf(files[0])
    # Without TLS the password is refused: curl fails to log in.
    r = curl("--user", f"{ALICE}:{PASSWORD}", f"pop3://127.0.0.1:{srv.port_for('pop3')}/1")
    assert r.returncode != 0


@pytest.mark.skipif(shutil.which("mpop") is None, reason="mpop not installed")
def test_mpop_fetches_and_deletes_over_stls(make_server, tmp_path):
    srv = pop3_server(make_server, plaintext=False, sections=TLS)
    files = deliver(srv, MESSAGES)
    out = tmp_path / "fetched"
    for sub in ("tmp", "new", "cur"):
        (out / sub).mkdir(parents=True)
    rc = tmp_path / "mpoprc"
    rc.write_text(f"""account test
host 127.0.0.1
port {srv.port_for('pop3')}
user {ALICE}
password {PASSWORD}
auth user
tls on
tls_starttls on
tls_certcheck off
delivery maildir {out}
keep off
uidls_file {tmp_path / 'uidls'}
""")
    rc.chmod(0o600)
    r = subprocess.run(["mpop", "--file", str(rc), "--quiet", "test"], capture_output=True,
                       timeout=60, env=NO_PROXY)
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()
    got = sorted(p.read_bytes() for p in (out / "new").iterdir())
    assert len(got) == 2
    # mpop writes LF line ends and may add nothing but its own Received-less copy.
    for f in files:
        assert any(g.endswith(f.replace(b"\r\n", b"\n")) for g in got), got
    # keep off: deleted on the server at QUIT.
    assert srv.mail(ALICE) == []
    assert not list((srv.mailbox(ALICE) / "cur").iterdir())


@pytest.mark.skipif(shutil.which("fetchmail") is None, reason="fetchmail not installed")
def test_fetchmail_fetches_over_stls_and_keeps_with_keep(make_server, tmp_path):
    srv = pop3_server(make_server, plaintext=False, sections=TLS)
    files = deliver(srv, MESSAGES)
    rc = tmp_path / "fetchmailrc"
    out = tmp_path / "bsmtp"
    rc.write_text(f'poll 127.0.0.1 service {srv.port_for("pop3")} protocol pop3 '
                  f'auth password user "{ALICE}" password "{PASSWORD}" '
                  f'sslproto "tls1.2+" no sslcertck keep fetchall\n')
    rc.chmod(0o600)
    env = {**NO_PROXY, "FETCHMAILHOME": str(tmp_path), "HOME": str(tmp_path)}
    r = subprocess.run(["fetchmail", "--nodetach", "--nosyslog", "-f", str(rc), "--bsmtp",
                        str(out)], capture_output=True, timeout=60, env=env)
    # 0: mail fetched.
    assert r.returncode == 0, r.stderr.decode() + r.stdout.decode()
    got = out.read_bytes().replace(b"\r\n", b"\n")
    for f in files:
        # BSMTP is dot-stuffed SMTP; the message after our trace headers is there whole.
        body = f.split(b"\n\n", 1)[1]
        assert body.replace(b"\n.", b"\n..") in got
    # keep: nothing removed; the messages were retrieved, so they are now seen.
    assert srv.mail(ALICE) == []
    assert sorted(p.name.endswith(":2,S") for p in (srv.mailbox(ALICE) / "cur").iterdir()) == \
        [True, True]
