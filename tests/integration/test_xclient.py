"""XCLIENT (Postfix's XCLIENT_README, DESIGN.md §4.6): a client in [smtp] xclient_networks
names the client it speaks for, gets a new 220 greeting, and the session then behaves as
if that client had connected: Received:, trusted_networks, per-IP limits, logs, AUTH.

Every address here is on loopback: the real peer is 127.0.0.1, and the clients XCLIENT
names are other 127/8 addresses, outside trusted_networks = ["127.0.0.1/32"]."""


from conftest import HOSTNAME, parse_delivered
from smtpclient import make_message

GREETING = f"{HOSTNAME} ESMTP posthorn"
REMOTE = "someone@remote.test"


def xclient_server(make_server, networks=("127.0.0.0/8",), **options):
    return make_server(trusted_networks=["127.0.0.1/32"],
                       sections={"smtp": {"xclient_networks": list(networks)}}, **options)



def test_xclient_is_advertised_and_sets_the_client_in_received_and_logs(make_server):
    srv = xclient_server(make_server)
    with srv.connect() as c:
        r = c.ehlo("proxy.example.test")
        assert "XCLIENT ADDR NAME HELO PROTO LOGIN PORT DESTADDR DESTPORT" in r.lines, r
        r = c.cmd("XCLIENT ADDR=127.0.0.77 NAME=mail.example.net HELO=helo.example.net")
        assert r.code == 220 and r.last == GREETING, r
        # The session starts over: HELO/EHLO first.
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(503, "5.5.1")
        assert c.ehlo("proxy.example.test").code == 250
        qid = c.send_mail("someone@example.net", ["alice@example.test"], make_message())
    (raw,) = srv.wait_for_mail("alice@example.test")
    d = parse_delivered(raw)
    assert d.received.startswith(
        "Received: from helo.example.net (mail.example.net [127.0.0.77]) "
        f"by {HOSTNAME} (posthorn) with ESMTP id {qid} for <alice@example.test>;"), d.received
    srv.wait_log(r"event=xclient client=\[127\.0\.0\.77\] orig_client=\[127\.0\.0\.1\] "
                  r"name=mail\.example\.net helo=\"helo\.example\.net\"")
    srv.wait_log(rf"id={qid} event=queued .* client=\[127\.0\.0\.77\]")
    srv.wait_log(r"event=disconnect client=\[127\.0\.0\.77\] .*xclient=1 .*"
                  r"orig_client=\[127\.0\.0\.1\]")


def test_xclient_outside_xclient_networks_is_550_570_and_not_advertised(make_server):
    srv = xclient_server(make_server, networks=("127.0.0.2/32",))
    with srv.connect() as c:
        r = c.ehlo()
        assert not any(line.startswith("XCLIENT") for line in r.lines), r
        r = c.cmd("XCLIENT ADDR=127.0.0.77")
        assert r.is_(550, "5.7.0"), r
        # Nothing changed: the trusted real peer still relays.
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").code == 250


def test_xclient_from_an_allowed_client_elsewhere_in_the_list(make_server):
    srv = xclient_server(make_server, networks=("::1/128", "127.0.0.1"))
    with srv.connect() as c:
        assert c.cmd("XCLIENT ADDR=127.0.0.77").code == 220


def test_xclient_addr_outside_trusted_networks_cannot_relay(make_server):
    srv = xclient_server(make_server)
    with srv.session() as c:
        # The real peer 127.0.0.1 is trusted ...
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").code == 250
        assert c.cmd("RSET").code == 250
        # ... the client XCLIENT names is not.
        assert c.cmd("XCLIENT ADDR=127.0.0.77").code == 220
        assert c.ehlo().code == 250
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd(f"RCPT TO:<{REMOTE}>")
        assert r.is_(550, "5.7.1") and "Relaying denied" in r.last, r
        # Local mail is still accepted from it.
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250


def test_xclient_addr_inside_trusted_networks_may_relay(make_server):
    srv = make_server(trusted_networks=["127.0.0.0/8"],
                      sections={"smtp": {"xclient_networks": ["127.0.0.1/32"]}})
    with srv.session() as c:
        assert c.cmd("XCLIENT ADDR=127.0.0.77").code == 220
        assert c.ehlo().code == 250
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").code == 250


def test_xclient_login_authenticates_relaying_and_received_says_esmtpa(make_server):
    srv = xclient_server(make_server)
    with srv.session() as c:
        assert c.cmd("XCLIENT ADDR=127.0.0.77 LOGIN=alice@example.test HELO=laptop").code == 220
        assert c.ehlo("proxy.example.test").code == 250
        assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").code == 250
        assert c.cmd("RSET").code == 250
        # The sender policy applies to the login as after AUTH.
        assert c.cmd("MAIL FROM:<bob@example.test>").is_(553, "5.7.1")
        qid = c.send_mail("alice@example.test", ["bob@example.test"], make_message())
        # XCLIENT again, without LOGIN: no longer authenticated.
        assert c.cmd("XCLIENT ADDR=127.0.0.78").code == 220
        assert c.ehlo().code == 250
        assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").is_(550, "5.7.1")
    (raw,) = srv.wait_for_mail("bob@example.test")
    d = parse_delivered(raw)
    assert d.received.startswith(
        f"Received: from laptop (unknown [127.0.0.77]) by {HOSTNAME} (posthorn) "
        f"with ESMTPA id {qid}"), d.received


def test_xclient_in_a_mail_transaction_is_503_551(make_server):
    srv = xclient_server(make_server)
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("XCLIENT ADDR=127.0.0.77").is_(503, "5.5.1")
        # The transaction goes on with the real client.
        assert c.cmd(f"RCPT TO:<{REMOTE}>").code == 250


def test_xclient_bad_syntax_is_501_554(make_server):
    srv = xclient_server(make_server)
    with srv.session() as c:
        for bad in ("XCLIENT", "XCLIENT ADDR", "XCLIENT ADDR=999.1.1.1", "XCLIENT FOO=bar",
                    "XCLIENT NAME=a+20b", "XCLIENT PROTO=LMTP", "XCLIENT HELO=x+zz"):
            assert c.cmd(bad).is_(501, "5.5.4"), bad
        assert c.cmd("NOOP").code == 250


def test_xclient_ipv6_address_and_unavailable_values(make_server):
    srv = xclient_server(make_server)
    with srv.connect() as c:
        assert c.cmd("XCLIENT ADDR=IPV6:::1 NAME=[UNAVAILABLE] PROTO=SMTP").code == 220
        assert c.cmd("HELO client.example.net").code == 250
        qid = c.send_mail("someone@example.net", ["alice@example.test"], make_message())
    (raw,) = srv.wait_for_mail("alice@example.test")
    d = parse_delivered(raw)
    assert d.received.startswith(
        f"Received: from client.example.net (unknown [IPv6:::1]) by {HOSTNAME} (posthorn) "
        f"with SMTP id {qid}"), d.received


def test_xclient_moves_the_per_ip_connection_count_to_the_new_address(make_server):
    srv = xclient_server(make_server, limits={"connections_per_ip": 1})
    first = srv.connect()
    try:
        # 127.0.0.1 holds its one connection: a second one is refused ...
        with srv.connect() as c:
            assert c.banner.is_(421, "4.7.0"), c.banner
        # ... until the first speaks for 127.0.0.77 instead.
        assert first.cmd("XCLIENT ADDR=127.0.0.77").code == 220
        with srv.connect() as second:
            assert second.banner.code == 220
            # 127.0.0.77 is at its limit now: naming it again is refused and closes.
            r = second.cmd("XCLIENT ADDR=127.0.0.77")
            assert r.is_(421, "4.7.0"), r
            assert second.closed_by_server()
        assert first.cmd("NOOP").code == 250
    finally:
        first.close()
