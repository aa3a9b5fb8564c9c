"""Remote delivery (issue 4): MX routing through a real unbound, the outbound SMTP client
against aiosmtpd peers on 127.0.0.x, retries, restart after kill -9, smarthost.

Each test asserts on what the peer saw on the wire (envelope, parameters, DATA bytes).
Timing is never asserted: with [queue] retry = "1h", a delivery seen within the bounded
wait can only have come from the first attempt.
"""

from conftest import HOSTNAME
from peers import (MX1, MX2, IMPLICIT, OTHER_MX, SMARTHOST, remote, settled_reports,  # noqa: F401
                   submit, wait_until)
from smtpclient import make_message

SENDER = "someone@example.net"
ALICE = "alice@example.test"


def header_fields(data: bytes) -> list[bytes]:
    """The header fields of a CRLF message, each unfolded into one line."""
    head = data.split(b"\r\n\r\n", 1)[0]
    fields: list[bytes] = []
    for line in head.split(b"\r\n"):
        if line[:1] in (b" ", b"\t") and fields:
            fields[-1] += b" " + line.strip()
        else:
            fields.append(line)
    return fields


def test_message_to_a_remote_domain_reaches_mx1_with_its_envelope_and_one_more_received(remote):
    mx1 = remote.peer(MX1)
    mx2 = remote.peer(MX2)
    srv = remote.make_server()
    message = (b"Received: from a.example.net by b.example.net; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
               b"Received: from c.example.net by a.example.net; Thu, 1 Jan 2026 00:00:00 +0000\r\n"
               + make_message(subject="to the world", to="bob@remote.test",
                              body="Hello.\r\n.a line starting with a dot\r\n"))
    qid = submit(srv, SENDER, ["bob@remote.test"], message)

    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert tx.mail_from == SENDER
    assert tx.rcpt_tos == ["bob@remote.test"]
    assert tx.helo == HOSTNAME, "EHLO names [hostname] (DESIGN.md §4.3)"
    # Byte for byte: our Received: on top of the message exactly as it was submitted.
    assert tx.data.endswith(message), f"the message is not passed on unchanged:\n{tx.data!r}"
    added = header_fields(tx.data[:len(tx.data) - len(message)] + b"\r\n")
    assert len(added) == 1 and added[0].startswith(b"Received: "), added
    assert f"by {HOSTNAME}".encode() in added[0], added[0]
    assert qid.encode() in added[0], f"our Received: names queue id {qid}: {added[0]!r}"
    received = [f for f in header_fields(tx.data) if f.lower().startswith(b"received:")]
    assert len(received) == 3, received

    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert len(mx1.messages) == 1
    assert not mx2.transactions, "mx2 (preference 20) is not used while mx1 takes the mail"


def test_mx1_down_means_mx2_gets_the_message_in_the_same_attempt(remote):
    mx2 = remote.peer(MX2)  # nothing listens on mx1's address: connection refused
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["bob@remote.test"], make_message(subject="via mx2"))

    (tx,) = mx2.wait_for_messages(1, detail=remote.describe)
    assert tx.rcpt_tos == ["bob@remote.test"]
    assert b"Subject: via mx2\r\n" in tx.data
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert len(mx2.messages) == 1


def test_domain_with_only_an_a_record_is_delivered_to_that_address(remote):
    peer = remote.peer(IMPLICIT)  # implicit.test has no MX, only A 127.0.0.4 (RFC 5321 §5.1)
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["carol@implicit.test"], make_message(subject="implicit mx"))

    (tx,) = peer.wait_for_messages(1, detail=remote.describe)
    assert tx.mail_from == SENDER
    assert tx.rcpt_tos == ["carol@implicit.test"]
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)


def test_two_temporary_failures_then_success_delivers_exactly_once(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("451 4.3.0 Try again later", times=2)
    srv = remote.make_server(retry=["1s"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="third time lucky"))

    mx1.wait_for_messages(1, detail=remote.describe)
    # No report either: delay warnings are off and the mail was delivered in the end.
    settled_reports(srv, remote, ALICE, 0)
    assert len(mx1.messages) == 1, remote.describe()
    assert mx1.rcpt_commands == 3, remote.describe()


def test_kill_9_with_mail_queued_for_a_down_peer_delivers_once_after_restart(remote):
    # mx1 accepts TCP and hangs up before the greeting; mx2 refuses: both are down for SMTP,
    # and the listener shows when the server has tried.
    down = remote.closing_listener(MX1)
    srv = remote.make_server(retry=["1s"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="survives kill -9"))
    wait_until(lambda: down.accepted >= 1, "the server tries mx1", detail=remote.describe)
    srv.kill()

    down.stop()
    mx1 = remote.peer(MX1)
    srv.restart()
    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert b"Subject: survives kill -9\r\n" in tx.data
    settled_reports(srv, remote, ALICE, 0)
    assert len(mx1.messages) == 1, remote.describe()


def test_smarthost_receives_everything_whatever_the_mx_records_say(remote):
    smart = remote.peer(SMARTHOST)
    mx1 = remote.peer(MX1)
    other = remote.peer(OTHER_MX)
    srv = remote.make_server(smarthost=f"{SMARTHOST}:{remote.port}")
    rcpts = ["bob@remote.test", "dave@other.test", "erin@nxdomain.test"]
    submit(srv, SENDER, rcpts, make_message(subject="via the smarthost"))

    def delivered():
        return sorted(r for t in smart.messages for r in t.rcpt_tos)

    wait_until(lambda: len(delivered()) >= len(rcpts), "the smarthost gets every recipient",
               detail=remote.describe)
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert delivered() == sorted(rcpts), remote.describe()
    assert all(t.mail_from == SENDER for t in smart.messages)
    assert not mx1.transactions and not other.transactions, remote.describe()


def test_one_transaction_carries_every_recipient_of_a_domain(remote):
    mx1 = remote.peer(MX1)
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["bob@remote.test", "carol@remote.test"], make_message(subject="two"))

    mx1.wait_for_messages(1, detail=remote.describe)
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert len(mx1.transactions) == 1, f"one MAIL for the domain\n{remote.describe()}"
    (tx,) = mx1.messages
    assert sorted(tx.rcpt_tos) == ["bob@remote.test", "carol@remote.test"]


def test_4xx_at_the_end_of_data_defers_and_the_retry_delivers_once(remote):
    """The only MX takes the message and answers 451 after its end: deferred (no bounce),
    retried, then delivered; the peer holds exactly one accepted copy."""
    other = remote.peer(OTHER_MX)
    other.fail_data("451 4.3.0 Queue file write error", times=1)
    srv = remote.make_server(retry=["1s"])
    qid = submit(srv, ALICE, ["dave@other.test"], make_message(subject="second time lucky"))
    srv.wait_log(rf"id={qid} .*to=<dave@other.test>.*status=deferred", timeout=15)
    (tx,) = other.wait_for_messages(1, detail=remote.describe)
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert b"Subject: second time lucky\r\n" in tx.data
    first, second = other.transactions
    assert first.data_started and not first.delivered and first.data_reply.startswith("451")
    assert second.delivered and second.data_reply.startswith("250")
    assert len(other.messages) == 1, remote.describe()
    srv.wait_log(rf"id={qid} .*to=<dave@other.test>.*status=sent")
    assert srv.mail(ALICE) == [], "a deferral is no bounce"
