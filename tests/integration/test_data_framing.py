"""Only CRLF ends a line and only CRLF "." CRLF ends DATA (DESIGN.md §4.2): bare LF
and CR are refused without desynchronising the session, and no odd end-of-data
sequence can smuggle a second message."""

import pytest

from conftest import parse_delivered
from smtpclient import make_message


def test_bare_lf_in_body_is_refused_and_the_session_stays_usable(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: bare LF\r\n\r\nfirst line\nsecond line after a bare LF\r\n.\r\n")
        r = c.read_reply()
        assert 500 <= r.code < 600, r
        assert r.enhanced is not None, r
        # The next message in the same session is accepted.
        c.send_mail("someone@example.net", ["alice@example.test"], make_message(subject="clean"))
    (raw,) = server.wait_for_mail("alice@example.test")
    assert b"Subject: clean" in raw
    server.wait_spool_empty()
    assert len(server.mail("alice@example.test")) == 1


def test_bare_cr_in_body_is_refused_and_the_session_stays_usable(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: bare CR\r\n\r\nfirst line\rsame line after a bare CR\r\n.\r\n")
        r = c.read_reply()
        assert 500 <= r.code < 600, r
        assert c.cmd("NOOP").code == 250


# Each sequence would end DATA in a lax server; what follows it would then be read as
# commands: a second, smuggled transaction to bob.
SMUGGLING = [b"\n.\n", b"\r.\r", b"\r\n.\n", b"\n.\r\n", b"\r.\r\n", b"\r\n.\r", b"\n..\n"]


@pytest.mark.parametrize("end", SMUGGLING, ids=lambda b: b.decode().encode("unicode_escape").decode())
def test_odd_end_of_data_sequence_does_not_end_data(server, end):
    with server.session() as c:
        baseline = c.cmd("NOOP")
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: smuggling\r\n\r\nhello" + end +
               b"MAIL FROM:<evil@example.net>\r\nRCPT TO:<bob@example.test>\r\nDATA\r\n"
               b"Subject: smuggled\r\n\r\nsmuggled\r\n.\r\n")
        r = c.read_reply()
        # The whole thing is one message holding bare CR/LF: refused after its real end.
        assert 500 <= r.code < 600, r
        # Nothing else was answered: the next reply is the NOOP's.
        assert c.cmd("NOOP").lines == baseline.lines
        c.send_mail("someone@example.net", ["alice@example.test"], make_message(subject="after"))
    server.wait_for_mail("alice@example.test")
    server.wait_spool_empty()
    assert server.mail("bob@example.test") == []
    assert len(server.mail("alice@example.test")) == 1


def test_lf_dot_lf_inside_a_message_is_not_the_end(server):
    # The same bytes as a smuggling attempt, but ended properly and then refused as a
    # whole; the transaction after it is ours and succeeds.
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: x\r\n\r\nbody\n.\nQUIT\r\n")
        # Had "\n.\n" ended DATA, QUIT would close the connection now.
        c.send(b"more body\r\n.\r\n")
        r = c.read_reply()
        assert r.code != 221, r
        assert 500 <= r.code < 600, r
        assert c.cmd("NOOP").code == 250


def test_bare_lf_in_a_command_is_500_552(server):
    with server.session() as c:
        c.send(b"NOOP\nNOOP\r\n")
        r = c.read_reply()
        assert r.is_(500, "5.5.2"), r
        assert c.cmd("NOOP").code == 250


def test_bare_cr_in_a_command_is_500_552(server):
    with server.session() as c:
        c.send(b"NOOP\rNOOP\r\n")
        r = c.read_reply()
        assert r.is_(500, "5.5.2"), r
        assert c.cmd("NOOP").code == 250


def test_dot_stuffing_is_undone_and_the_body_kept_byte_for_byte(server):
    body = (".leading dot\r\n..two\r\n...\r\n. \r\nend.\r\n")
    msg = make_message(subject="dots", body=body)
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], msg)
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_8bit_body_is_kept_byte_for_byte(server):
    body = "Grüße aus Köln — ünïcödé ✓\r\n".encode("utf-8") + bytes(range(0x80, 0x100)) + b"\r\n"
    msg = b"Subject: 8bit\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n" + body
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], msg, "BODY=8BITMIME")
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_large_message_is_streamed_and_delivered_intact(server):
    line = b"0123456789" * 9 + b"\r\n"
    msg = b"Subject: large\r\n\r\n" + line * 30_000  # ~2.8 MB, past any in-memory buffer
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], msg)
    (raw,) = server.wait_for_mail("alice@example.test", timeout=30)
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")
