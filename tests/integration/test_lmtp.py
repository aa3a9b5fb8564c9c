"""LMTP (issue 12, RFC 2033).

Out (DESIGN.md §4.6 `[mailbox] lmtp`): local recipients are handed to a real Dovecot over
LMTP instead of being written to posthorn's Maildirs; each recipient gets Dovecot's own
answer (a 5xx bounces that one, the others are delivered), and while Dovecot is down the
mail waits in the queue and arrives once when it is back.

In (a listener with role "lmtp"): Python's smtplib.LMTP delivers into posthorn's
Maildirs and gets one reply per recipient after the message.
"""

import re
import smtplib

import pytest

from conftest import HOSTNAME, parse_delivered, run_cli, to_lf
from dovecot import dovecot_factory  # noqa: F401
from peers import parse_report, submit
from smtpclient import make_message

CAROL = "carol@example.test"
DAVE = "dave@example.test"
ERIN = "erin@example.test"  # known to posthorn, unknown to Dovecot
SENDER = "someone@example.net"


def lmtp_server(make_server, dc, target: str = "unix", **options):
    lmtp = f"unix:{dc.lmtp_socket}" if target == "unix" else f"127.0.0.1:{dc.lmtp_port}"
    return make_server(users=(CAROL, DAVE, ERIN), mailbox_options={"lmtp": lmtp}, **options)


def assert_stored(raw: bytes, *, sender: str, rcpt: str, queue_id: str, message: bytes):
    """Dovecot's file (in `rcpt`'s store): its Return-Path and its Received: (from us,
    with LMTP) on top, then our Received: with the queue id, then the message exactly as
    sent (LF line ends, as Maildir holds it)."""
    text = raw.decode("utf-8", "replace")
    head = text.split("\n\n", 1)[0]
    assert head.startswith(f"Return-Path: <{sender}>\n"), head
    dovecots = re.search(rf"^Received: from {re.escape(HOSTNAME)}.*\n\tby \S+ with LMTP", head, re.M)
    ours = re.search(rf"^\tby {re.escape(HOSTNAME)} \(posthorn\) with ESMTP id {queue_id}\b",
                     head, re.M)
    assert dovecots and ours and dovecots.start() < ours.start(), head
    assert raw.endswith(to_lf(message)), raw


@pytest.mark.parametrize("target", ["unix", "tcp"])
def test_mail_for_two_users_arrives_in_dovecots_store(make_server, dovecot_factory, target):
    dc = dovecot_factory({CAROL: "pw-carol", DAVE: "pw-dave"})
    srv = lmtp_server(make_server, dc, target)
    msg = make_message(subject="over LMTP", body="Line one.\r\n.leading dot\r\nLast.\r\n")
    qid = submit(srv, SENDER, [CAROL, DAVE], msg)
    for rcpt in (CAROL, DAVE):
        (raw,) = dc.wait_messages(rcpt, 1, detail=srv.log_tail)
        assert_stored(raw, sender=SENDER, rcpt=rcpt, queue_id=qid, message=msg)
    srv.wait_spool_empty()
    # Dovecot has them; posthorn wrote no Maildir of its own.
    assert not srv.maildir_root.exists() or not any(srv.maildir_root.rglob("new/*"))
    m = srv.wait_log(rf"id={qid} .*to=<{CAROL}>.*status=sent")
    assert "dsn=2." in m.group(0)


def test_unknown_user_at_dovecot_bounces_only_that_one(make_server, dovecot_factory):
    dc = dovecot_factory({CAROL: "pw-carol", DAVE: "pw-dave"})
    srv = lmtp_server(make_server, dc, queue={"retry": ["1h"], "delay_warning": "0s"})
    msg = make_message(subject="one of two", sender=CAROL)
    qid = submit(srv, CAROL, [DAVE, ERIN], msg)
    (raw,) = dc.wait_messages(DAVE, 1, detail=srv.log_tail)
    assert_stored(raw, sender=CAROL, rcpt=DAVE, queue_id=qid, message=msg)
    # The bounce for erin goes to carol, through Dovecot like any local mail.
    dc.wait_messages(CAROL, 1, detail=srv.log_tail)
    srv.wait_spool_empty()
    (bounce,) = dc.messages(CAROL)
    assert bounce.startswith(b"Return-Path: <>\n"), bounce[:200]
    rep = parse_report(bounce)
    assert len(rep.recipients) == 1, rep.recipients
    group = rep.recipient(ERIN)
    assert group.get("action", "").lower() == "failed", group
    assert group.get("status") == "5.1.1", group
    assert re.search(r"550[ -]5\.1\.1", group.get("diagnostic-code", "")), group
    assert "Subject: one of two" in rep.returned.as_string()
    assert dc.messages(ERIN) == []
    assert len(dc.messages(DAVE)) == 1


def test_dovecot_down_defers_then_delivers_once(make_server, dovecot_factory):
    dc = dovecot_factory({CAROL: "pw-carol", DAVE: "pw-dave"})
    dc.stop()
    srv = lmtp_server(make_server, dc, queue={"retry": ["1h"], "delay_warning": "0s"})
    msg = make_message(subject="while Dovecot sleeps")
    qid = submit(srv, SENDER, [CAROL], msg)
    srv.wait_log(rf"id={qid} .*to=<{CAROL}>.*dsn=4\.4\.1 status=deferred")
    assert len(srv.spool_files()) == 1
    dc.start()
    r = run_cli("queue", "flush", config=srv.config_path)
    assert r.returncode == 0, r.stderr
    (raw,) = dc.wait_messages(CAROL, 1, detail=srv.log_tail)
    assert_stored(raw, sender=SENDER, rcpt=CAROL, queue_id=qid, message=msg)
    srv.wait_spool_empty()
    # Nothing more can come once the spool is empty: delivered exactly once.
    assert len(dc.messages(CAROL)) == 1


def test_connection_is_reused_across_messages(make_server, dovecot_factory):
    dc = dovecot_factory({CAROL: "pw-carol", DAVE: "pw-dave"})
    srv = lmtp_server(make_server, dc)
    first = submit(srv, SENDER, [CAROL], make_message(subject="first"))
    dc.wait_messages(CAROL, 1, detail=srv.log_tail)
    srv.wait_spool_empty()
    second = submit(srv, SENDER, [DAVE], make_message(subject="second"))
    dc.wait_messages(DAVE, 1, detail=srv.log_tail)
    srv.wait_spool_empty()
    assert first != second
    # Dovecot logs each LMTP client connection (the fixture's readiness probes close in
    # state GREETING): the second message came on the first one's connection.
    log = dc.log_path.read_text(errors="replace")
    opened = len(re.findall(r"lmtp\(\d+\): Info: Connect from local", log))
    probes = len(re.findall(r"Disconnect from local: Connection closed \(state=GREETING\)", log))
    assert opened - probes == 1, log


# ---------------------------------------------------------------------------
# LMTP in: a listener with role "lmtp" (another MTA delivers into our Maildirs)

def test_lmtp_in_answers_each_recipient_after_the_message(make_server):
    srv = make_server(users=(CAROL, DAVE), roles=("mx", "lmtp"))
    msg = make_message(subject="handed over LMTP", body="One.\r\n..two\r\nThree.\r\n")
    lm = smtplib.LMTP("127.0.0.1", srv.port_for("lmtp"))
    try:
        code, resp = lm.ehlo("gateway.example.net")  # smtplib's LMTP says LHLO
        assert code == 250, resp
        assert b"AUTH" not in resp and b"STARTTLS" not in resp, resp
        assert lm.mail(SENDER)[0] == 250
        assert lm.rcpt(CAROL)[0] == 250
        code, resp = lm.rcpt("nobody@example.test")
        assert (code, resp[:6]) == (550, b"5.1.1 "), resp
        # Only local recipients: never relayed, even from a trusted network.
        code, resp = lm.rcpt("someone@remote.test")
        assert (code, resp[:6]) == (550, b"5.7.1 "), resp
        assert lm.rcpt(DAVE)[0] == 250
        # RFC 2033 §4.2: one reply per accepted RCPT, in order; smtplib reads the first.
        code, first = lm.data(msg)
        code2, second = lm.getreply()
    finally:
        lm.close()
    assert code == 250 and first.startswith(f"2.0.0 <{CAROL}> Ok: queued as ".encode()), first
    assert code2 == 250 and second.startswith(f"2.0.0 <{DAVE}> Ok: queued as ".encode()), second
    qid = first.split()[-1].decode()
    assert second.split()[-1].decode() == qid
    for rcpt in (CAROL, DAVE):
        (raw,) = srv.wait_for_mail(rcpt)
        d = parse_delivered(raw)
        assert d.return_path == f"<{SENDER}>" and d.delivered_to == rcpt
        assert f"by {HOSTNAME}" in d.received and "with LMTP" in d.received, d.received
        assert f"id {qid}" in d.received, d.received
        assert d.message == to_lf(msg)
    assert srv.mail("nobody@example.test") == []
