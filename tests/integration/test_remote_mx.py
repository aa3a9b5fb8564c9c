"""The next MX in the same attempt (RFC 5321 §5.1: the addresses are tried "until a
delivery attempt succeeds"), and IPv6 MX hosts.

A 4xx from mx1 to every recipient, to MAIL or to the data hands the recipients to mx2 at
once; what mx1 accepted or refused for good stays decided there. With [queue] retry =
"1h", a delivery seen within the bounded wait can only come from the first attempt.
"""

import json
import re

from conftest import run_cli
import pytest

from peers import (MX1, MX2, V6, DUAL_V4, ipv6_loopback, remote, settled_reports,  # noqa: F401
                   submit, wait_until)
from smtpclient import make_message

SENDER = "someone@example.net"
ALICE = "alice@example.test"


def recipients_of(peer) -> list[str]:
    return sorted(r for t in peer.messages for r in t.rcpt_tos)


def test_mx1_defers_every_recipient_and_mx2_delivers_them_once_in_the_same_attempt(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("451 4.3.0 Try again later")
    mx2 = remote.peer(MX2)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test", "carol@remote.test"], make_message(subject="via mx2"))

    (tx,) = mx2.wait_for_messages(1, detail=remote.describe)
    assert sorted(tx.rcpt_tos) == ["bob@remote.test", "carol@remote.test"]
    assert b"Subject: via mx2\r\n" in tx.data
    settled_reports(srv, remote, ALICE, 0)  # delivered: no report of any kind
    assert not mx1.messages, remote.describe()
    assert len(mx1.transactions) == 1 and len(mx2.transactions) == 1, remote.describe()
    assert "451 4.3.0 Try again later" in srv.log_path.read_text(errors="replace")


def test_mx1_takes_one_recipient_and_defers_the_other_each_is_delivered_exactly_once(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt_to("carol@remote.test", "452 4.2.2 Mailbox full")
    mx2 = remote.peer(MX2)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test", "carol@remote.test"], make_message(subject="split"))

    mx2.wait_for_messages(1, detail=remote.describe)
    settled_reports(srv, remote, ALICE, 0)
    assert recipients_of(mx1) == ["bob@remote.test"], remote.describe()
    assert recipients_of(mx2) == ["carol@remote.test"], remote.describe()
    assert len(mx1.messages) == 1 and len(mx2.messages) == 1, remote.describe()
    # The mail log names, for each recipient, the host that took it.
    log = srv.log_path.read_text(errors="replace")
    sent = {m.group(1): m.group(2) for m in
            re.finditer(r"to=<([^>]+)>.*? relay=(\S+) .*status=sent", log)}
    assert sent.get("bob@remote.test", "").startswith("mx1.remote.test[127.0.0.2]"), sent
    assert sent.get("carol@remote.test", "").startswith("mx2.remote.test[127.0.0.3]"), sent


def test_a_5xx_recipient_at_mx1_is_final_and_not_tried_at_mx2(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt_to("nobody@remote.test", "550 5.1.1 <nobody@remote.test>: User unknown")
    mx1.fail_rcpt_to("carol@remote.test", "451 4.3.0 Try again later")
    mx2 = remote.peer(MX2)
    srv = remote.make_server(retry=["1h"])
    rcpts = ["bob@remote.test", "carol@remote.test", "nobody@remote.test"]
    submit(srv, ALICE, rcpts, make_message(subject="three"))

    (rep,) = settled_reports(srv, remote, ALICE, 1)
    assert rep.actions == ["failed"], rep.recipients
    assert rep.recipient("nobody@remote.test")["status"] == "5.1.1"
    assert recipients_of(mx1) == ["bob@remote.test"], remote.describe()
    assert recipients_of(mx2) == ["carol@remote.test"], remote.describe()
    assert all("nobody@remote.test" not in t.rcpt_tos for t in mx2.transactions)


def test_mx1_refusing_mail_with_4xx_sends_the_message_to_mx2(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_mail("421 4.3.2 Service shutting down")  # 421 to MAIL: mx1 hangs up too
    mx2 = remote.peer(MX2)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="mail refused"))

    (tx,) = mx2.wait_for_messages(1, detail=remote.describe)
    assert tx.rcpt_tos == ["bob@remote.test"]
    settled_reports(srv, remote, ALICE, 0)
    assert not mx1.messages and mx1.transactions[0].mail_reply.startswith("421"), \
        remote.describe()


def test_mx1_refusing_mail_with_451_sends_the_message_to_mx2(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_mail("451 4.3.0 Local trouble")
    mx2 = remote.peer(MX2)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="mail deferred"))

    mx2.wait_for_messages(1, detail=remote.describe)
    settled_reports(srv, remote, ALICE, 0)
    assert not mx1.messages and len(mx2.messages) == 1, remote.describe()


def test_mx1_deferring_the_data_sends_the_message_to_mx2(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_data("451 4.3.0 Queue file write error")
    mx2 = remote.peer(MX2)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="data deferred"))

    (tx,) = mx2.wait_for_messages(1, detail=remote.describe)
    assert b"Subject: data deferred\r\n" in tx.data
    settled_reports(srv, remote, ALICE, 0)
    (t1,) = mx1.transactions
    assert t1.data_started and not t1.delivered and t1.data_reply.startswith("451")


def test_every_mx_deferring_keeps_the_peers_reply_for_the_next_attempt(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("450 4.2.1 Mailbox busy")  # mx2: nothing listens (connection refused)
    srv = remote.make_server(retry=["1h"])
    qid = submit(srv, ALICE, ["bob@remote.test"], make_message(subject="deferred"))

    def deferred():
        r = run_cli("queue", "list", "--json", config=srv.config_path)
        for m in json.loads(r.stdout or "[]"):
            for rc in m["recipients"] if m["id"] == qid else []:
                if rc["status"] == "deferred" and rc["attempts"] >= 1:
                    return rc
        return None

    rc = wait_until(deferred, "the recipient is deferred", detail=remote.describe)
    assert rc["last_reply"].startswith("450 4.2.1 Mailbox busy"), rc


needs_ipv6 = pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback (::1) here")


@needs_ipv6
def test_aaaa_only_mx_on_ipv6_loopback_receives_the_message(remote):
    peer = remote.peer(V6)
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["dave@v6.test"], make_message(subject="over IPv6"))

    (tx,) = peer.wait_for_messages(1, detail=remote.describe)
    assert tx.rcpt_tos == ["dave@v6.test"]
    assert b"Subject: over IPv6\r\n" in tx.data
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    log = srv.log_path.read_text(errors="replace")
    assert "relay=mx6.v6.test[::1]" in log, log[-2000:]


@needs_ipv6
def test_an_mx_host_with_a_and_aaaa_is_tried_on_both_addresses(remote):
    down = remote.closing_listener(DUAL_V4)  # the IPv4 address hangs up at once
    peer = remote.peer(V6)
    srv = remote.make_server(retry=["1h"])
    submit(srv, SENDER, ["erin@dual.test"], make_message(subject="second address"))

    (tx,) = peer.wait_for_messages(1, detail=remote.describe)
    assert tx.rcpt_tos == ["erin@dual.test"]
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert down.accepted >= 1, "the A address comes first (resolver order) and was tried"


def test_mail_whose_mx_is_this_server_bounces_5_4_6_instead_of_looping(tmp_path, make_server):
    """loop.test's MX is 127.0.0.1, and mail to MX hosts goes to the port this server
    listens on: sending it there would loop (DESIGN.md §4.2 compares address and port
    with our own listeners). The sender gets a 5.4.6 report; nothing is sent anywhere."""
    from conftest import free_port
    from peers import DnsServer, parse_report
    dns = DnsServer(tmp_path / "loop-dns", extra_zone=(
        'local-zone: "loop.test." static\n'
        'local-data: "loop.test. 300 IN MX 10 mx.loop.test."\n'
        'local-data: "mx.loop.test. 300 IN A 127.0.0.1"\n')).start()
    try:
        srv = make_server(start=False, nameservers=[dns.address], smarthost="",
                          queue={"retry": ["1h"], "delay_warning": "0s"})
        port = free_port()
        srv.ports = [port]
        srv.outbound_port = port  # MX hosts are reached on our own SMTP port
        srv.write_config()
        srv.restart()
        qid = submit(srv, ALICE, ["bob@loop.test"], make_message(subject="round and round"))
        (raw,) = srv.wait_for_mail(ALICE)
        srv.wait_spool_empty()
        assert len(srv.mail(ALICE)) == 1
        assert raw.startswith(b"Return-Path: <>\n"), raw[:200]
        rep = parse_report(raw)
        group = rep.recipient("bob@loop.test")
        assert group.get("action", "").lower() == "failed", group
        assert group.get("status") == "5.4.6", group
        assert "loops back to myself" in group.get("diagnostic-code", "") + \
            rep.msg.get_payload()[0].get_content(), rep.recipients
        # Never handed to itself: the only message this server accepted over SMTP is the
        # one submitted above (a loop would show as more event=queued lines); the report
        # was queued directly (event=dsn).
        log = srv.log_text()
        queued = [line for line in log.splitlines() if " event=queued " in line]
        assert len(queued) == 1 and f"id={qid} " in queued[0], queued
        assert re.search(rf"id={qid} event=dsn kind=\w+", log), log
    finally:
        dns.stop()
