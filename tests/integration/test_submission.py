"""Submission rules (issue 3, RFC 6409): AUTH before MAIL on submission listeners, the
envelope sender must belong to the user ([submission] sender_policy), authenticated
users may relay while strangers may not, and Date and Message-ID are added to submitted
messages that lack them."""

import base64
import email
import email.utils
import re
import smtplib

import pytest

from conftest import HOSTNAME, PASSWORD, client_tls_context, parse_delivered, queue_id_of, start_tls
from smtpclient import make_message

ROLES = ("mx", "submission", "submissions")
TLS = {"tls": {"self_signed": True}}
ALICE = "alice@example.test"
REMOTE = "someone@remote.example.net"


@pytest.fixture
def tls_server(make_server):
    return make_server(roles=ROLES, sections=TLS)


def plain(user: str, password: str = PASSWORD) -> str:
    return base64.b64encode(f"\0{user}\0{password}".encode()).decode("ascii")


def logged_in(srv, role: str = "submission", user: str = ALICE):
    """A session inside TLS (STARTTLS, or implicit on submissions) after AUTH PLAIN."""
    if role == "submissions":
        c = srv.connect_tls()
        assert c.cmd("EHLO client.example.net").code == 250
    else:
        c = srv.tls_session(port=srv.port_for(role))
    assert c.cmd(f"AUTH PLAIN {plain(user)}").is_(235, "2.7.0")
    return c


def bare_message(subject: str, extra_headers: str = "") -> bytes:
    """A message without Date and Message-ID, as a minimal script would send it."""
    return (f"From: <{ALICE}>\r\nTo: <bob@example.test>\r\nSubject: {subject}\r\n"
            f"{extra_headers}\r\nbody line\r\n").encode()


# -- AUTH before MAIL ------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_mail_before_auth_on_a_submission_listener_is_530_570(tls_server, role):
    if role == "submissions":
        c = tls_server.connect_tls()
        assert c.cmd("EHLO client.example.net").code == 250
    else:
        c = tls_server.tls_session(port=tls_server.port_for(role))
    with c:
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(530, "5.7.0")
        assert c.cmd("MAIL FROM:<>").is_(530, "5.7.0")


def test_mail_before_tls_on_submission_is_530_570(tls_server):
    with tls_server.session(port=tls_server.port_for("submission")) as c:
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(530, "5.7.0")


def test_mx_listener_takes_mail_for_local_users_without_auth(tls_server):
    with tls_server.tls_session(port=tls_server.port_for("mx")) as c:
        c.send_mail("someone@example.net", [ALICE], make_message())
    tls_server.wait_for_mail(ALICE)


def test_auth_before_starttls_is_forgotten_after_it(make_server):
    # RFC 3207 §4.2: nothing learned before TLS survives it, an AUTH included.
    srv = make_server(roles=("submission",), listen_options={"allow_plaintext_auth": True},
                      sections=TLS)
    with srv.session() as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE)}").is_(235, "2.7.0")
        assert c.cmd("STARTTLS").is_(220)
        start_tls(c)
        assert c.cmd("EHLO client.example.net").code == 250
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(530, "5.7.0")


# -- sender policy ---------------------------------------------------------------------------

def test_another_users_sender_address_is_553_571(tls_server):
    with logged_in(tls_server) as c:
        r = c.cmd("MAIL FROM:<bob@example.test>")
        assert r.is_(553, "5.7.1"), r
        assert c.cmd(f"MAIL FROM:<{REMOTE}>").is_(553, "5.7.1")


@pytest.mark.parametrize("sender", [
    ALICE,
    "Alice@Example.TEST",          # addresses compare without regard to case
    "alice+news@example.test",     # recipient_delimiter "+"
    "postmaster@example.test",     # an alias whose mail reaches alice
    "",                            # the null sender is always allowed
])
def test_own_addresses_are_allowed_as_sender(tls_server, sender):
    with logged_in(tls_server) as c:
        assert c.cmd(f"MAIL FROM:<{sender}>").is_(250, "2.1.0")


def test_alias_that_reaches_the_user_among_others_is_allowed(tls_server):
    # "team: alice, bob": mail to team reaches alice, so `own` allows it (docs/config.md).
    with logged_in(tls_server) as c:
        assert c.cmd("MAIL FROM:<team@example.test>").is_(250, "2.1.0")


@pytest.mark.parametrize("policy,sender,code", [
    ("domain", "bob@example.test", 250),
    ("domain", "anything@example.test", 250),
    ("domain", REMOTE, 553),
    ("any", "bob@example.test", 250),
    ("any", REMOTE, 250),
    ("own", "bob@example.test", 553),
])
def test_sender_policy_setting(make_server, policy, sender, code):
    srv = make_server(roles=("submission",),
                      sections={**TLS, "submission": {"sender_policy": policy}})
    with logged_in(srv) as c:
        assert c.cmd(f"MAIL FROM:<{sender}>").code == code


def test_sender_policy_applies_to_authenticated_clients_on_mx_too(tls_server):
    with logged_in(tls_server, role="mx") as c:
        assert c.cmd("MAIL FROM:<bob@example.test>").is_(553, "5.7.1")


# -- relaying ----------------------------------------------------------------------------------

@pytest.mark.parametrize("role", ["submission", "submissions"])
def test_authenticated_user_may_relay_to_a_remote_domain(make_server, role):
    srv = make_server(roles=ROLES, sections=TLS, trusted_networks=[])
    with logged_in(srv, role=role) as c:
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(250)
        assert c.cmd(f"RCPT TO:<{REMOTE}>").is_(250, "2.1.5")
        r = c.data(make_message(sender=ALICE, to=REMOTE))
        assert r.is_(250, "2.0.0"), r
        qid = queue_id_of(r.line())
    # Queued for relay (the smarthost is a dead port, so it stays in the spool).
    assert any(qid in p.name for p in srv.spool_files()), \
        f"{qid} not in the spool: {[p.name for p in srv.spool_files()]}"


def test_authenticated_client_on_mx_may_relay(make_server):
    srv = make_server(roles=ROLES, sections=TLS, trusted_networks=[])
    with logged_in(srv, role="mx") as c:
        assert c.cmd(f"MAIL FROM:<{ALICE}>").is_(250)
        assert c.cmd(f"RCPT TO:<{REMOTE}>").is_(250, "2.1.5")


@pytest.mark.parametrize("tls", [False, True])
def test_unauthenticated_relay_from_an_untrusted_network_is_550_571(make_server, tls):
    srv = make_server(roles=ROLES, sections=TLS, trusted_networks=[])
    port = srv.port_for("mx")
    with (srv.tls_session(port=port) if tls else srv.session(port=port)) as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(250)
        r = c.cmd(f"RCPT TO:<{REMOTE}>")
        assert r.is_(550, "5.7.1"), r
        assert "Relaying denied" in r.last
        # Local recipients are still accepted from strangers.
        assert c.cmd(f"RCPT TO:<{ALICE}>").is_(250, "2.1.5")


def test_failed_auth_does_not_open_the_relay(make_server):
    srv = make_server(roles=ROLES, sections=TLS, trusted_networks=[])
    with srv.tls_session(port=srv.port_for("mx")) as c:
        assert c.cmd(f"AUTH PLAIN {plain(ALICE, 'wrong')}").is_(535, "5.7.8")
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(250)
        assert c.cmd(f"RCPT TO:<{REMOTE}>").is_(550, "5.7.1")


# -- Date and Message-ID -------------------------------------------------------------------------

def test_date_and_message_id_are_added_to_a_submitted_message_lacking_them(tls_server):
    msg = bare_message("no date, no id")
    with logged_in(tls_server) as c:
        qid = c.send_mail(ALICE, ["bob@example.test"], msg)
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    d = parse_delivered(raw)
    parsed = email.message_from_bytes(d.message)
    assert parsed.get_all("Message-ID") == [f"<{qid}@{HOSTNAME}>"], d.message
    dates = parsed.get_all("Date")
    assert dates and len(dates) == 1, d.message
    assert email.utils.parsedate_to_datetime(dates[0]) is not None
    # Headers are added in the header section, the body is untouched.
    head, body = d.message.split(b"\n\n", 1)
    assert b"Message-ID:" in head and b"Date:" in head
    assert body == b"body line\n"
    # Everything the client sent is still there, in order.
    sent = [line for line in msg.replace(b"\r\n", b"\n").split(b"\n")]
    got = d.message.split(b"\n")
    it = iter(got)
    assert all(line in it for line in sent), d.message


def test_only_the_missing_header_is_added(tls_server):
    date = email.utils.formatdate(localtime=True)
    msg = bare_message("has a date", extra_headers=f"Date: {date}\r\n")
    with logged_in(tls_server, role="submissions") as c:
        qid = c.send_mail(ALICE, ["bob@example.test"], msg)
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    parsed = email.message_from_bytes(parse_delivered(raw).message)
    assert parsed.get_all("Date") == [date]
    assert parsed.get_all("Message-ID") == [f"<{qid}@{HOSTNAME}>"]


def test_date_and_message_id_are_not_added_when_present(tls_server):
    msg = make_message(subject="complete", sender=ALICE, to="bob@example.test",
                       extra_headers=f"Date: {email.utils.formatdate()}\r\n")
    with logged_in(tls_server) as c:
        c.send_mail(ALICE, ["bob@example.test"], msg)
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_message_id_header_name_in_any_case_counts_as_present(tls_server):
    msg = bare_message("lower case", extra_headers="message-id: <x1@example.net>\r\n"
                                                     "DATE: Sat, 1 Jan 2022 00:00:00 +0000\r\n")
    with logged_in(tls_server) as c:
        c.send_mail(ALICE, ["bob@example.test"], msg)
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_unauthenticated_mx_mail_gets_no_date_or_message_id(tls_server):
    # Relayed and inbound mail is passed on as received (RFC 5321 §6.3 forbids "fixing").
    msg = bare_message("inbound")
    with tls_server.tls_session(port=tls_server.port_for("mx")) as c:
        c.send_mail("someone@example.net", ["bob@example.test"], msg)
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_smtplib_smtp_ssl_login_on_submissions_adds_headers_and_says_esmtpsa(tls_server):
    msg = bare_message("smtplib SMTP_SSL")
    with smtplib.SMTP_SSL("127.0.0.1", tls_server.port_for("submissions"),
                          local_hostname="client.example.net", timeout=15,
                          context=client_tls_context()) as s:
        code, _ = s.login(ALICE, PASSWORD)
        assert code == 235
        assert s.sendmail(ALICE, ["bob@example.test"], msg) == {}
    (raw,) = tls_server.wait_for_mail("bob@example.test")
    d = parse_delivered(raw)
    assert re.search(r"\bwith ESMTPSA id \S+", d.received), d.received
    assert re.search(r"\(using TLSv1\.[23] with cipher \S+\)", d.received), d.received
    parsed = email.message_from_bytes(d.message)
    assert parsed["Message-ID"] and parsed["Date"], d.message
