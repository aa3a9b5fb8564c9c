"""[limits]: message size, recipients, command length, errors, connections, timeouts,
and clients that are not SMTP clients at all."""

import pytest

from conftest import parse_delivered
from smtpclient import SmtpConn, make_message


def message_of_size(n: int, subject: str = "sized") -> bytes:
    """A message of exactly n octets after dot-unstuffing (one line starts with a dot,
    so the wire carries n + 1)."""
    head = f"Subject: {subject}\r\n\r\n.dotted line\r\n".encode()
    line = b"x" * 70 + b"\r\n"
    body = head
    while len(body) + len(line) <= n - 10:
        body += line
    body += b"y" * (n - len(body) - 2) + b"\r\n"
    assert len(body) == n
    return body


def test_oversize_message_is_552_534_and_the_session_goes_on(make_server):
    srv = make_server(limits={"message_size": "10k"})
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        r = c.data(message_of_size(30_000, "too big"))
        assert r.is_(552, "5.3.4"), r
        c.send_mail("someone@example.net", ["alice@example.test"], make_message(subject="small"))
    (raw,) = srv.wait_for_mail("alice@example.test")
    assert b"Subject: small" in raw
    srv.wait_spool_empty()
    assert len(srv.mail("alice@example.test")) == 1


def test_message_of_exactly_the_limit_is_accepted_one_more_octet_is_not(make_server):
    srv = make_server(limits={"message_size": "2k"})
    exact = message_of_size(2000, "exact")
    with srv.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], exact)
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.data(message_of_size(2001, "one too many")).is_(552, "5.3.4")
    (raw,) = srv.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).message == exact.replace(b"\r\n", b"\n")


def test_size_declared_too_big_at_mail_is_552_534(make_server):
    srv = make_server(limits={"message_size": "10k"})
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net> SIZE=10001").is_(552, "5.3.4")
        assert c.cmd("MAIL FROM:<someone@example.net> SIZE=10000").code == 250


def test_too_many_recipients_is_452_453(make_server):
    srv = make_server(limits={"recipients": 2})
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("RCPT TO:<bob@example.test>").code == 250
        assert c.cmd("RCPT TO:<postmaster@example.test>").is_(452, "4.5.3")
        # The recipients accepted so far still get the message.
        assert c.data(make_message(subject="two recipients")).code == 250
    srv.wait_for_mail("alice@example.test")
    srv.wait_for_mail("bob@example.test")


@pytest.mark.parametrize("length", [600, 5_000, 200_000])
def test_too_long_command_is_500_552_and_the_session_goes_on(server, length):
    with server.session() as c:
        r = c.cmd("RCPT TO:<" + "a" * length + "@example.test>")
        assert r.is_(500, "5.5.2"), r
        assert c.cmd("NOOP").code == 250
        c.send_mail("someone@example.net", ["alice@example.test"], make_message())
    server.wait_for_mail("alice@example.test")


def test_command_of_512_octets_is_accepted(server):
    with server.session() as c:
        line = "NOOP "
        line += "x" * (510 - len(line))  # 510 + CRLF = 512 (RFC 5321 §4.5.3.1.4)
        assert c.cmd(line).code == 250


def test_too_many_errors_is_421_470_and_close(make_server):
    srv = make_server(limits={"errors": 3})
    with srv.session() as c:
        replies = []
        for _ in range(6):
            r = c.cmd("BOGUS")
            replies.append(r)
            if r.code == 421:
                break
        assert replies[-1].is_(421, "4.7.0"), [str(r) for r in replies]
        assert len(replies) <= 4, [str(r) for r in replies]
        assert c.closed_by_server()


def test_connections_per_ip_over_the_limit_get_421_470(make_server):
    srv = make_server(limits={"connections_per_ip": 2})
    first, second = srv.connect(), srv.connect()
    try:
        assert first.banner.code == 220 and second.banner.code == 220
        third = SmtpConn(srv.port)
        assert third.banner.is_(421, "4.7.0"), third.banner
        assert third.closed_by_server()
        third.close()
        # Another address in 127.0.0.0/8 is another client.
        other = SmtpConn(srv.port, source="127.0.0.2")
        assert other.banner.code == 220
        other.close()
    finally:
        first.close()
        second.close()


def test_connections_over_the_limit_get_421_470(make_server):
    srv = make_server(limits={"connections": 2})
    first, second = srv.connect(), srv.connect(source="127.0.0.3")
    try:
        third = SmtpConn(srv.port, source="127.0.0.4")
        assert third.banner.is_(421, "4.7.0"), third.banner
        assert third.closed_by_server()
        third.close()
    finally:
        first.close()
        second.close()


def test_idle_client_gets_421_442_after_the_command_timeout(make_server):
    srv = make_server(limits={"command_timeout": "1s"})
    with srv.connect(timeout=30) as c:
        r = c.read_reply()  # say nothing, wait for the server
        assert r.is_(421, "4.4.2"), r
        assert c.closed_by_server()


def test_stalled_data_gets_421_442_after_the_data_timeout(make_server):
    srv = make_server(limits={"data_timeout": "1s"})
    with srv.session(timeout=30) as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: stalled\r\n\r\nhalf a message\r\n")
        r = c.read_reply()
        assert r.is_(421, "4.4.2"), r
        assert c.closed_by_server()
    srv.wait_spool_empty()
    assert srv.mail("alice@example.test") == []


@pytest.mark.parametrize("first_line", [
    b"GET / HTTP/1.1\r\nHost: mx.example.test\r\n\r\n",
    b"POST /submit HTTP/1.1\r\nHost: mx.example.test\r\nContent-Length: 0\r\n\r\n",
    b"CONNECT mx.example.test:25 HTTP/1.1\r\n\r\n",
    b"Host: mx.example.test\r\n\r\n",
])
def test_http_request_gets_5xx_and_close(server, first_line):
    with server.connect() as c:
        c.send(first_line)
        r = c.read_reply()
        assert 500 <= r.code < 600, r
        assert c.closed_by_server()


def test_low_disk_space_is_452_431_before_data(make_server):
    # limits.min_free_space (docs/config.md): far more than any disk here has free.
    srv = make_server(limits={"min_free_space": "1000000G"})
    with srv.session() as c:
        replies = [c.cmd("MAIL FROM:<someone@example.net>")]
        if replies[-1].code == 250:
            replies.append(c.cmd("RCPT TO:<alice@example.test>"))
        if replies[-1].code == 250:
            replies.append(c.cmd("DATA"))
        assert replies[-1].is_(452, "4.3.1"), [str(r) for r in replies]
        assert all(r.code != 354 for r in replies)
