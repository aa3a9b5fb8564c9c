"""posthorn next to a real Dovecot (issue 12, docs/mailbox.md):

* Dovecot's IMAP reads the Maildirs posthorn writes (mail_location
  maildir:<maildir_root>/%d/%n, Maildir++ folders such as .Junk): what IMAP returns is
  byte for byte the file posthorn delivered (with CRLF, as IMAP sends it).
* SMTP AUTH checked by Dovecot's auth service over its auth-client socket ([auth]
  dovecot_socket): the right password 235, a wrong one 535, Dovecot's auth down 454 4.7.0.
"""

import base64
import imaplib
import os
import shutil

import pytest

from conftest import Server, free_port
from dovecot import chown_mail, dovecot_factory, mail_user, private_dir  # noqa: F401
from peers import submit
from smtpclient import make_message

CAROL = "carol@example.test"
FRANK = "frank@example.test"  # known to Dovecot only: its passdb decides


@pytest.fixture
def shared_base():
    """A folder posthorn (run as the mail user when we are root) and Dovecot both reach."""
    base = private_dir("posthorn-imap-")
    yield base
    shutil.rmtree(base, ignore_errors=True)


def start_as_mail_user(srv: Server) -> Server:
    """posthorn writes the Maildirs as the user Dovecot reads them as (`user`, when root)."""
    srv.ports = [free_port()]
    srv.write_config()
    if os.geteuid() == 0:
        srv.config_path.write_text(f'user = "{mail_user().pw_name}"\n' +
                                   srv.config_path.read_text())
    srv.restart()
    return srv


def test_dovecot_imap_reads_what_posthorn_delivered(dovecot_factory, shared_base,
                                                    tmp_path_factory):
    srv = Server(root=shared_base / "posthorn", users=(CAROL,),
                 hash_root=tmp_path_factory.getbasetemp() / "hashes")
    srv.maildir_root.mkdir(parents=True)
    chown_mail(srv.maildir_root)
    dc = dovecot_factory({CAROL: "imap-secret"}, root=shared_base / "dovecot",
                         maildir_root=srv.maildir_root)
    try:
        start_as_mail_user(srv)
        msg = make_message(subject="read me over IMAP", to=CAROL,
                           body="First line.\r\n..dot-stuffed on the wire\r\nLast.\r\n")
        submit(srv, "someone@example.net", [CAROL], msg)
        srv.wait_for_mail(CAROL)
        (file,) = srv.mail_files(CAROL)
        stored = file.read_bytes()

        imap = imaplib.IMAP4("127.0.0.1", dc.imap_port)
        try:
            typ, _ = imap.login(CAROL, "imap-secret")
            assert typ == "OK"
            typ, data = imap.select("INBOX", readonly=True)
            assert typ == "OK" and data[0] == b"1", data
            typ, data = imap.fetch("1", "(BODY.PEEK[])")
            assert typ == "OK", data
            fetched = data[0][1]
            # IMAP sends CRLF; the Maildir file holds LF (DESIGN.md §4.2).
            assert fetched == stored.replace(b"\n", b"\r\n")
            assert b"Subject: read me over IMAP" in fetched
            typ, folders = imap.list()
            assert typ == "OK"
            names = [f.decode() for f in folders]
            junk = [n for n in names if n.endswith('"Junk"') or n.endswith(" Junk")]
            assert junk and "\\Junk" in junk[0], names
            typ, data = imap.select("Junk", readonly=True)
            assert typ == "OK" and data[0] == b"0", data
        finally:
            imap.logout()
        # Dovecot's Junk folder is Maildir++ .Junk in the same Maildir, where posthorn's
        # [mailbox] junk_folder writes.
        junk_dir = srv.mailbox(CAROL) / ".Junk"
        assert all((junk_dir / sub).is_dir() for sub in ("cur", "new", "tmp")), \
            sorted(p.name for p in srv.mailbox(CAROL).iterdir())
    finally:
        srv.stop()


def auth_server(make_server, dc, **options):
    return make_server(users=(CAROL,), roles=("submission",),
                       listen_options={"allow_plaintext_auth": True},
                       sections={"auth": {"dovecot_socket": str(dc.auth_socket)}}, **options)


def plain(user: str, password: str) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode()


def test_smtp_auth_is_checked_by_dovecot(make_server, dovecot_factory):
    dc = dovecot_factory({FRANK: "dovecot-pw", CAROL: "carol-dovecot-pw"})
    srv = auth_server(make_server, dc)
    with srv.connect() as c:
        r = c.cmd("EHLO client.example.net")
        assert r.code == 250
        auth = [line for line in r.lines if line.upper().startswith("AUTH ")]
        # Dovecot checks passwords: SCRAM (which needs our stored secrets) is not offered.
        assert auth == ["AUTH PLAIN LOGIN"], r.lines
        r = c.cmd("AUTH PLAIN " + plain(FRANK, "wrong"))
        assert r.is_(535, "5.7.8"), r
        r = c.cmd("AUTH SCRAM-SHA-256")
        assert r.is_(504, "5.5.4"), r
        r = c.cmd("AUTH PLAIN " + plain(FRANK, "dovecot-pw"))
        assert r.is_(235, "2.7.0"), r
        r = c.cmd(f"MAIL FROM:<{FRANK}>")
        assert r.is_(250), r
    srv.wait_log(r"event=auth client=\[127\.0\.0\.1\] user=<frank@example\.test>")
    # LOGIN goes through the same check; the users file's password no longer counts.
    with srv.connect() as c:
        assert c.cmd("EHLO client.example.net").code == 250
        assert c.cmd("AUTH LOGIN").code == 334
        assert c.cmd(base64.b64encode(CAROL.encode()).decode()).code == 334
        r = c.cmd(base64.b64encode(b"carol-dovecot-pw").decode())
        assert r.is_(235, "2.7.0"), r
    with srv.connect() as c:
        assert c.cmd("EHLO client.example.net").code == 250
        r = c.cmd("AUTH PLAIN " + plain(CAROL, "password"))  # the users file's
        assert r.is_(535, "5.7.8"), r


def test_dovecot_auth_down_fails_temporarily(make_server, dovecot_factory):
    dc = dovecot_factory({FRANK: "dovecot-pw"})
    srv = auth_server(make_server, dc)
    dc.stop()
    with srv.connect() as c:
        assert c.cmd("EHLO client.example.net").code == 250
        r = c.cmd("AUTH PLAIN " + plain(FRANK, "dovecot-pw"))
        assert r.is_(454, "4.7.0"), r
        # Not counted as a failed login: once Dovecot is back the same session logs in.
        dc.start()
        r = c.cmd("AUTH PLAIN " + plain(FRANK, "dovecot-pw"))
        assert r.is_(235, "2.7.0"), r
    srv.wait_log(r"event=auth-unavailable client=\[127\.0\.0\.1\] user=\"frank@example\.test\"")
