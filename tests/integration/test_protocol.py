"""The command and reply rules of DESIGN.md §4.2 that a client sees: greeting,
HELO/EHLO, HELP, NOOP, RSET, QUIT, sequence errors, obsolete and unknown verbs."""

import pytest

from conftest import HOSTNAME, parse_delivered
from smtpclient import make_message


def test_greeting_is_220_hostname_esmtp_posthorn(server):
    with server.connect() as c:
        assert c.banner.code == 220
        assert c.banner.lines == [f"{HOSTNAME} ESMTP posthorn"]


def test_helo_replies_250_naming_the_server(server):
    with server.connect() as c:
        r = c.cmd("HELO client.example.net")
        assert r.code == 250
        assert len(r.lines) == 1
        assert r.last.split()[0] == HOSTNAME


def test_ehlo_advertises_the_issue_2_extensions(server):
    with server.connect() as c:
        r = c.cmd("EHLO client.example.net")
        assert r.code == 250
        assert r.lines[0].split()[0] == HOSTNAME
        keywords = {line.split()[0].upper(): line.split()[1:] for line in r.lines[1:]}
        for k in ("SIZE", "PIPELINING", "8BITMIME", "SMTPUTF8", "ENHANCEDSTATUSCODES", "HELP"):
            assert k in keywords, f"EHLO does not advertise {k}: {r}"
        assert keywords["SIZE"] == ["35000000"]  # the default 35M, powers of 1000


def test_ehlo_size_is_the_configured_limit(make_server):
    srv = make_server(limits={"message_size": "10k"})
    with srv.connect() as c:
        r = c.cmd("EHLO client.example.net")
        assert "SIZE 10000" in r.lines[1:]


def test_ehlo_offers_no_auth_without_tls(server):
    # AUTH only where allowed: over TLS by default (DESIGN.md §4.2).
    with server.connect() as c:
        r = c.cmd("EHLO client.example.net")
        assert not any(line.upper().startswith("AUTH") for line in r.lines[1:]), r


def test_second_ehlo_resets_and_is_answered_again(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("EHLO again.example.net").code == 250
        # EHLO resets the transaction (RFC 5321 §4.1.4): RCPT now lacks a MAIL.
        assert c.cmd("RCPT TO:<alice@example.test>").is_(503, "5.5.1")


def test_verbs_are_case_insensitive(server):
    with server.connect() as c:
        assert c.cmd("ehlo client.example.net").code == 250
        assert c.cmd("mail from:<someone@example.net>").code == 250
        assert c.cmd("RcPt To:<alice@example.test>").code == 250
        assert c.cmd("rset").code == 250
        assert c.cmd("nOoP").code == 250


def test_helo_session_is_received_with_smtp(server):
    msg = make_message(subject="helo")
    with server.connect() as c:
        assert c.cmd("HELO client.example.net").code == 250
        qid = c.send_mail("someone@example.net", ["alice@example.test"], msg)
    (raw,) = server.wait_for_mail("alice@example.test")
    received = parse_delivered(raw).received
    assert " with SMTP " in received, received
    assert f" id {qid}" in received, received


def test_help_replies_214(server):
    with server.session() as c:
        r = c.cmd("HELP")
        assert r.code == 214, r
        assert r.enhanced == "2.0.0", r


@pytest.mark.parametrize("topic", ["MAIL", "rcpt", "DATA"])
def test_help_with_a_topic_replies_214(server, topic):
    with server.session() as c:
        r = c.cmd(f"HELP {topic}")
        assert r.code == 214, r
        assert r.enhanced == "2.0.0", r


def test_noop_replies_250(server):
    with server.connect() as c:
        assert c.cmd("NOOP").is_(250, "2.0.0")
        assert c.cmd("NOOP with an argument").is_(250, "2.0.0")


def test_rset_clears_the_transaction(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("RSET").is_(250, "2.0.0")
        assert c.cmd("DATA").is_(503, "5.5.1")
        assert c.cmd("RCPT TO:<alice@example.test>").is_(503, "5.5.1")
        # A fresh transaction works after RSET.
        c.send_mail("someone@example.net", ["alice@example.test"], make_message())
    server.wait_for_mail("alice@example.test")


def test_quit_replies_221_and_closes(server):
    with server.session() as c:
        r = c.cmd("QUIT")
        assert r.code == 221
        assert c.closed_by_server()


def test_mail_before_helo_is_a_sequence_error(server):
    with server.connect() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").is_(503, "5.5.1")


def test_rcpt_before_mail_is_a_sequence_error(server):
    with server.session() as c:
        assert c.cmd("RCPT TO:<alice@example.test>").is_(503, "5.5.1")


def test_data_before_mail_is_a_sequence_error(server):
    with server.session() as c:
        assert c.cmd("DATA").is_(503, "5.5.1")


def test_data_before_rcpt_is_a_sequence_error(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("DATA").is_(503, "5.5.1")
        # The transaction survives the refused DATA.
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250


def test_nested_mail_is_a_sequence_error(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("MAIL FROM:<other@example.net>").is_(503, "5.5.1")


def test_data_after_only_refused_recipients_is_refused(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<nobody@example.test>").code == 550
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
        assert r.enhanced is not None and r.enhanced.startswith("5."), r


@pytest.mark.parametrize("verb", ["SEND FROM:<someone@example.net>",
                                  "SOML FROM:<someone@example.net>",
                                  "SAML FROM:<someone@example.net>", "TURN"])
def test_obsolete_verbs_are_not_implemented(server, verb):
    with server.session() as c:
        assert c.cmd(verb).is_(502, "5.5.1")
        assert c.cmd("NOOP").code == 250


@pytest.mark.parametrize("verb", ["FOO", "XYZZY bar", "EXPNX team"])
def test_unknown_verb_is_500_552(server, verb):
    with server.session() as c:
        assert c.cmd(verb).is_(500, "5.5.2")
        assert c.cmd("NOOP").code == 250


def test_mail_with_bad_address_syntax_is_501(server):
    with server.session() as c:
        r = c.cmd("MAIL FROM:<unterminated@example.net")
        assert r.code == 501, r
        assert r.enhanced is not None and r.enhanced.startswith("5."), r
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250


def test_every_reply_but_220_221_354_has_an_enhanced_code(server):
    with server.connect() as c:
        replies = [c.cmd("NOOP"), c.cmd("MAIL FROM:<someone@example.net>"), c.cmd("FOO"),
                   c.cmd("EHLO client.example.net"), c.cmd("MAIL FROM:<someone@example.net>"),
                   c.cmd("RCPT TO:<alice@example.test>"), c.cmd("RCPT TO:<nobody@example.test>"),
                   c.cmd("RSET"), c.cmd("HELP"), c.cmd("VRFY alice@example.test")]
        for r in replies[:3] + replies[4:]:  # not the EHLO reply (RFC 2034 §3)
            assert r.enhanced is not None, f"no enhanced status code in {r}"
            assert r.enhanced[0] == str(r.code)[0], r


# Only CRLF ends a line: a line holding a bare LF or CR is one command and gets one
# reply, so the text after the LF never runs and a client counting one reply per line
# stays in step.
@pytest.mark.parametrize("line", [b"EHLO a\nMAIL FROM:<x@example.net>", b"NOOP\nNOOP",
                                  b"RSET\n.\nQUIT", b"EHLO a\rMAIL FROM:<x@example.net>"],
                         ids=["ehlo-lf-mail", "noop-lf-noop", "rset-lf-dot-lf-quit", "ehlo-cr-mail"])
def test_a_line_with_a_bare_lf_or_cr_gets_exactly_one_500(server, line):
    with server.connect() as c:
        baseline = c.cmd("NOOP")
        c.send(line + b"\r\nNOOP\r\n")
        refused, noop = c.read_replies(2)
        assert refused.is_(500, "5.5.2"), refused
        assert noop.lines == baseline.lines, f"a second reply for the same line: {noop}"
        # Nothing of the refused line took effect (no EHLO): MAIL is out of sequence.
        assert c.cmd("MAIL FROM:<x@example.net>").is_(503, "5.5.1")
        assert c.cmd("QUIT").code == 221
