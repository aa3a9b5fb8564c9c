"""Who may receive: local users, unknown and relocated users, relaying, address forms
(null sender, source routes, quoted local parts, user+tag, SMTPUTF8), and loops."""

import pytest

from conftest import parse_delivered
from smtpclient import make_message


def test_known_and_unknown_recipient_only_known_gets_the_message(server):
    msg = make_message(subject="one known, one unknown")
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        r = c.cmd("RCPT TO:<nobody@example.test>")
        assert r.is_(550, "5.1.1"), r
        r = c.data(msg)
        assert r.code == 250, r
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")
    server.wait_spool_empty()
    assert not server.mailbox("nobody@example.test").exists()


def test_pipelined_commands_are_answered_in_order(server):
    msg = make_message(subject="pipelined by hand")
    with server.session() as c:
        c.send(b"MAIL FROM:<someone@example.net>\r\n"
               b"RCPT TO:<alice@example.test>\r\n"
               b"RCPT TO:<nobody@example.test>\r\n"
               b"RCPT TO:<bob@example.test>\r\n"
               b"DATA\r\n")
        codes = [r.code for r in c.read_replies(5)]
        assert codes == [250, 250, 550, 250, 354]
        c.send(msg + b".\r\nNOOP\r\nQUIT\r\n")
        r = c.read_reply()
        assert r.code == 250, r
        assert c.read_reply().code == 250  # NOOP
        assert c.read_reply().code == 221
    server.wait_for_mail("alice@example.test")
    server.wait_for_mail("bob@example.test")


def test_null_sender_is_accepted_and_delivered(server):
    msg = make_message(subject="a bounce", sender="MAILER-DAEMON@example.net")
    with server.session() as c:
        assert c.cmd("MAIL FROM:<>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.data(msg).code == 250
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).return_path == "<>"


def test_source_route_in_rcpt_is_accepted_and_ignored(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<@relay.example.net,@hop.example.net:alice@example.test>")
        assert r.code == 250, r
        assert c.data(make_message(subject="routed")).code == 250
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).delivered_to == "alice@example.test"


def test_source_route_in_mail_from_is_dropped_from_return_path(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<@relay.example.net:someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.data(make_message(subject="routed sender")).code == 250
    (raw,) = server.wait_for_mail("alice@example.test")
    assert parse_delivered(raw).return_path == "<someone@example.net>"


def test_quoted_local_part_is_delivered_to_the_user(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd('RCPT TO:<"alice"@example.test>').code == 250
        assert c.data(make_message(subject="quoted")).code == 250
    server.wait_for_mail("alice@example.test")


def test_user_plus_tag_is_delivered_to_the_user(server):
    with server.session() as c:
        c.send_mail("someone@example.net", ["bob+lists@example.test"],
                    make_message(subject="tagged"))
    (raw,) = server.wait_for_mail("bob@example.test")
    assert b"Subject: tagged" in raw
    assert not server.mailbox("bob+lists@example.test").exists()


def test_recipient_domain_is_case_insensitive(server):
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@EXAMPLE.Test"], make_message(subject="case"))
    server.wait_for_mail("alice@example.test")


def test_unknown_local_user_is_550_511(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<nobody@example.test>").is_(550, "5.1.1")


def test_relocated_user_is_551_516_with_the_new_address(make_server):
    srv = make_server(relocated="carol@example.test: carol@elsewhere.example\n")
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<carol@example.test>")
        assert r.is_(551, "5.1.6"), r
        assert "carol@elsewhere.example" in r.text


def test_relay_is_denied_when_no_network_is_trusted(make_server):
    srv = make_server(trusted_networks=[])
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<someone@elsewhere.example>")
        assert r.is_(550, "5.7.1"), r
        # Local recipients are still welcome.
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250


def test_relay_from_a_trusted_network_is_accepted_and_stays_queued(server):
    msg = make_message(subject="mixed local and remote")
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<friend@elsewhere.example>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        r = c.data(msg)
        assert r.code == 250, r
        qid = r.last.split()[-1]
    # The local recipient is delivered; the remote one keeps the message in the queue.
    server.wait_for_mail("alice@example.test")
    assert any(qid in p.name for p in server.spool_files()), \
        f"queue id {qid} not in the spool: {[p.name for p in server.spool_files()]}"


def test_smtputf8_address_without_the_parameter_is_553_567(make_server):
    srv = make_server(users=("alice@example.test", "bob@example.test", "jörg@example.test"))
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<jörg@example.test>").is_(553, "5.6.7")
        assert c.cmd("RSET").code == 250
        assert c.cmd("MAIL FROM:<jörg@example.net>").is_(553, "5.6.7")


def test_smtputf8_address_with_the_parameter_is_delivered_to_its_maildir(make_server):
    srv = make_server(users=("alice@example.test", "bob@example.test", "jörg@example.test"))
    msg = ("From: <grüße@example.net>\r\nTo: <jörg@example.test>\r\n"
           "Subject: Grüße\r\n\r\nHallo Jörg!\r\n").encode("utf-8")
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<grüße@example.net> SMTPUTF8 BODY=8BITMIME").code == 250
        assert c.cmd("RCPT TO:<jörg@example.test>").code == 250
        assert c.data(msg).code == 250
    (raw,) = srv.wait_for_mail("jörg@example.test")
    d = parse_delivered(raw)
    assert d.return_path == "<grüße@example.net>"
    assert d.delivered_to == "jörg@example.test"
    assert d.message == msg.replace(b"\r\n", b"\n")


def received_headers(n):
    return "".join(f"Received: from hop{i}.example.net by hop{i + 1}.example.net;"
                   f" Mon, 1 Jan 2024 00:00:00 +0000\r\n" for i in range(n))


def test_101_received_headers_is_a_loop_554_546(server):
    msg = make_message(subject="looping", extra_headers=received_headers(101))
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        r = c.data(msg)
        assert r.is_(554, "5.4.6"), r
        # The session goes on.
        c.send_mail("someone@example.net", ["alice@example.test"], make_message(subject="ok"))
    (raw,) = server.wait_for_mail("alice@example.test")
    assert b"Subject: ok" in raw
    server.wait_spool_empty()
    assert len(server.mail("alice@example.test")) == 1


def test_100_received_headers_is_not_yet_a_loop(server):
    msg = make_message(subject="long path", extra_headers=received_headers(100))
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], msg)
    server.wait_for_mail("alice@example.test")


def test_upper_case_local_part_reaches_the_users_maildir(server):
    """RFC 5321 §2.4 lets a server treat local parts case-insensitively; ours are, as the
    users file is: RCPT TO:<ALICE@...> lands in alice's Maildir, Delivered-To as given."""
    msg = make_message(subject="shouted")
    with server.session() as c:
        qid = c.send_mail("someone@example.net", ["ALICE@EXAMPLE.TEST"], msg)
    (raw,) = server.wait_for_mail("alice@example.test")
    server.wait_spool_empty()
    d = parse_delivered(raw)
    assert d.message == msg.replace(b"\r\n", b"\n")
    assert f"id {qid}" in d.received
    assert d.delivered_to.lower() == "alice@example.test", d.delivered_to
    assert not server.mailbox("ALICE@example.test").exists(), "one Maildir per user"


# Sender-specified routing through us, and address literals: from a client that may not
# relay, each is a relay attempt (Postfix's reject_unauth_destination) and refused with
# 5.7.1, whether or not the part after the routing character names a local user.
RELAY_ATTEMPTS = [
    "bob%remote.example@example.test",          # percent hack
    "alice%example.test@example.test",          # percent hack to a local user
    "remote.example!bob@example.test",          # bang path
    "example.test!alice@example.test",          # bang path to a local user
    '"bob@remote.example"@example.test',        # a quoted "@"
    '"alice@example.test"@example.test',        # a quoted "@" naming a local user
    "bob@[127.0.0.2]",                          # IP literal
    "bob@[IPv6:::1]",                           # IPv6 literal
    "bob%remote.example@[127.0.0.2]",           # both
]


@pytest.mark.parametrize("rcpt", RELAY_ATTEMPTS)
def test_relay_attempt_from_an_untrusted_client_is_refused_5_7_1(make_server, rcpt):
    srv = make_server(trusted_networks=[])
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd(f"RCPT TO:<{rcpt}>")
        assert r.code in (550, 554) and r.enhanced == "5.7.1", r
        # Nothing was accepted: no transaction to send.
        assert c.cmd("DATA").code in (503, 554)
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250  # local mail still welcome
    assert not srv.spool_files()
