"""CHUNKING and BINARYMIME on the server (RFC 3030): BDAT chunks are taken verbatim and
exactly by their announced size, so the session never falls out of step; the message
lands in the Maildir as sent (with LF line ends, DESIGN.md §4.2). Neither smtplib nor
swaks speaks BDAT: the raw socket client sends the exact bytes."""

import re

import pytest

from conftest import assert_delivered, queue_id_of
from smtpclient import make_message

SENDER = "someone@example.net"
RCPT = "alice@example.test"


def bdat(data: bytes, last: bool = False) -> bytes:
    return f"BDAT {len(data)}{' LAST' if last else ''}\r\n".encode() + data


def begin(c, params: str = ""):
    assert c.cmd(f"MAIL FROM:<{SENDER}>" + (f" {params}" if params else "")).is_(250, "2.1.0")
    assert c.cmd(f"RCPT TO:<{RCPT}>").is_(250, "2.1.5")


def test_ehlo_offers_chunking_and_binarymime(server):
    with server.connect() as c:
        r = c.ehlo()
        assert "CHUNKING" in r.lines, r
        assert "BINARYMIME" in r.lines, r


def test_single_chunk_is_delivered_as_sent(server):
    # Dot-stuffing does not apply: a line with a lone dot is message text.
    msg = make_message(subject="one chunk", body=".\r\n..two dots\r\nQUIT\r\n")
    with server.session() as c:
        begin(c)
        c.send(bdat(msg, last=True))
        r = c.read_reply()
        assert r.is_(250, "2.0.0"), r
        qid = queue_id_of(r.line())
        assert c.cmd("NOOP").is_(250, "2.0.0")
    (raw,) = server.wait_for_mail(RCPT)
    assert_delivered(raw, sender=SENDER, rcpt=RCPT, queue_id=qid, message_crlf=msg)


def test_many_chunks_and_bdat_0_last(server):
    msg = make_message(subject="many chunks", body="".join(f"line {i}\r\n" for i in range(500)))
    pieces = [msg[i:i + 777] for i in range(0, len(msg), 777)]
    with server.session() as c:
        begin(c)
        sent = 0
        for p in pieces:
            c.send(bdat(p))
            sent += len(p)
            r = c.read_reply()
            assert r.is_(250, "2.0.0"), r
            assert f"{sent} octets" in r.last, r
        c.send(b"BDAT 0 LAST\r\n")
        r = c.read_reply()
        assert r.is_(250, "2.0.0"), r
        qid = queue_id_of(r.line())
    (raw,) = server.wait_for_mail(RCPT)
    assert_delivered(raw, sender=SENDER, rcpt=RCPT, queue_id=qid, message_crlf=msg)


def test_pipelined_chunks_and_quit_in_one_write(server):
    msg = make_message(subject="pipelined")
    with server.session() as c:
        c.send(f"MAIL FROM:<{SENDER}>\r\nRCPT TO:<{RCPT}>\r\n".encode() + bdat(msg[:40]) +
               bdat(msg[40:], last=True) + b"QUIT\r\n")
        mail, rcpt, chunk, last, quit_ = c.read_replies(5)
        assert mail.is_(250, "2.1.0") and rcpt.is_(250, "2.1.5"), (mail, rcpt)
        assert chunk.is_(250, "2.0.0") and "40 octets" in chunk.last, chunk
        assert last.is_(250, "2.0.0"), last
        assert quit_.code == 221, quit_
        assert c.closed_by_server()
    (raw,) = server.wait_for_mail(RCPT)
    assert_delivered(raw, sender=SENDER, rcpt=RCPT, queue_id=queue_id_of(last.line()),
                     message_crlf=msg)


def test_chunk_holding_commands_runs_none_of_them(server):
    # What looks like a smuggled transaction inside a chunk is message text.
    msg = (b"Subject: inside\r\n\r\nhello\r\n.\r\nMAIL FROM:<evil@example.net>\r\n"
           b"RCPT TO:<bob@example.test>\r\nDATA\r\n")
    with server.session() as c:
        begin(c)
        c.send(bdat(msg, last=True))
        r = c.read_reply()
        assert r.is_(250, "2.0.0"), r
        assert c.cmd("NOOP").is_(250, "2.0.0")
    (raw,) = server.wait_for_mail(RCPT)
    assert b"MAIL FROM:<evil@example.net>\nRCPT TO:<bob@example.test>\nDATA\n" in raw
    server.wait_spool_empty()
    assert server.mail("bob@example.test") == []


def test_data_after_bdat_is_503_and_rset_recovers(server):
    with server.session() as c:
        begin(c)
        c.send(bdat(b"Subject: mixed\r\n"))
        assert c.read_reply().is_(250, "2.0.0")
        assert c.cmd("DATA").is_(503, "5.5.1")
        # Later chunks of the failed transaction are read whole and refused.
        c.send(bdat(b"\r\nQUIT\r\n", last=True) + b"NOOP\r\n")
        refused, noop = c.read_replies(2)
        assert refused.is_(503, "5.5.1"), refused
        assert noop.is_(250, "2.0.0"), noop
        assert c.cmd("RSET").is_(250, "2.0.0")
        qid = c.send_mail(SENDER, [RCPT], make_message(subject="after rset"))
    server.wait_for_mail(RCPT)
    assert qid


def test_bdat_after_refused_data_is_503(server):
    with server.session() as c:
        begin(c)
        assert c.cmd("DATA extra").is_(501, "5.5.4")
        c.send(bdat(make_message(), last=True))
        assert c.read_reply().is_(503, "5.5.1")
        assert c.cmd("NOOP").is_(250, "2.0.0")


def test_bdat_without_mail_consumes_the_chunk(server):
    with server.session() as c:
        c.send(bdat(b"QUIT\r\n", last=True) + b"NOOP\r\n")
        refused, noop = c.read_replies(2)
        assert refused.is_(503, "5.5.1"), refused
        assert noop.is_(250, "2.0.0"), noop


def test_total_over_the_limit_is_552_at_last_and_the_session_stays_in_step(make_server):
    srv = make_server(limits={"message_size": "2k"})
    with srv.session() as c:
        begin(c)
        for _ in range(3):
            c.send(bdat(b"x" * 900 + b"\r\n"))
            assert c.read_reply().is_(250, "2.0.0")
        c.send(bdat(b"end\r\n", last=True) + b"NOOP\r\n")
        last, noop = c.read_replies(2)
        assert last.is_(552, "5.3.4"), last
        assert noop.is_(250, "2.0.0"), noop
        qid = c.send_mail(SENDER, [RCPT], make_message(subject="small"))
    (raw,) = srv.wait_for_mail(RCPT)
    assert qid.encode() in raw


def test_bad_size_syntax_is_501_then_the_connection_closes(server):
    with server.session() as c:
        begin(c)
        c.send(b"BDAT ten LAST\r\nSubject: x\r\n\r\n")
        r = c.read_reply()
        assert r.is_(501, "5.5.4"), r
        closing = c.read_reply()
        assert closing.is_(421, "4.7.0"), closing
        assert c.closed_by_server()


def test_binarymime_needs_bdat_and_keeps_binary_octets(server):
    body = bytes(b for b in range(256) if b not in (0x0d, 0x0a)) + b"\r\n"
    msg = (b"From: <someone@example.net>\r\nSubject: binary\r\nMIME-Version: 1.0\r\n"
           b"Content-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n"
           b"\r\n" + body)
    with server.session() as c:
        begin(c, "BODY=BINARYMIME")
        assert c.cmd("DATA").is_(503, "5.5.1")
        c.send(bdat(msg[:100]) + bdat(msg[100:], last=True))
        chunk, last = c.read_replies(2)
        assert chunk.is_(250, "2.0.0") and last.is_(250, "2.0.0"), (chunk, last)
        qid = queue_id_of(last.line())
    (raw,) = server.wait_for_mail(RCPT)
    assert_delivered(raw, sender=SENDER, rcpt=RCPT, queue_id=qid, message_crlf=msg)


def test_bare_lf_in_an_8bit_bdat_message_is_refused(server):
    with server.session() as c:
        begin(c, "BODY=8BITMIME")
        c.send(bdat(b"Subject: bare\r\n\r\nhello\n.\nbye\r\n", last=True))
        r = c.read_reply()
        assert r.is_(550, "5.6.0"), r
        assert c.cmd("NOOP").is_(250, "2.0.0")


def test_binarymime_without_ehlo_is_refused(server):
    with server.connect() as c:
        assert c.cmd("HELO client.example.net").code == 250
        assert c.cmd(f"MAIL FROM:<{SENDER}> BODY=BINARYMIME").is_(555, "5.5.4")


def test_received_header_says_esmtp(server):
    msg = make_message(subject="received")
    with server.session() as c:
        begin(c)
        c.send(bdat(msg, last=True))
        qid = queue_id_of(c.read_reply().line())
    (raw,) = server.wait_for_mail(RCPT)
    d = assert_delivered(raw, sender=SENDER, rcpt=RCPT, queue_id=qid, message_crlf=msg)
    assert re.search(r"\bwith ESMTP\b", d.received), d.received
