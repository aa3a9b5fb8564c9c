"""Aliases (aliases(5) style): fan-out, nested lists, off-site and unknown members,
alias loops, and the promise behind every 250: a delivery or a bounce, never silence."""

import subprocess

import pytest

from conftest import parse_delivered, require_binary
from peers import parse_report
from smtpclient import make_message

ALIASES = """\
# comments and blank lines are allowed

postmaster: alice
team: alice, bob
everyone: team, postmaster
ops@example.test: bob
mixed: alice, friend@elsewhere.example
broken: alice, ghost
loop-a: loop-b
loop-b: loop-a, bob
loop1: loop2
loop2: loop1
ghosts: ghost, spook
lst: bob, ghost
moved: old, gone
"""

RELOCATED = """\
old@example.test: old@elsewhere.example
gone@example.test: gone@elsewhere.example
"""


@pytest.fixture
def aliased(make_server):
    return make_server(aliases=ALIASES, relocated=RELOCATED)


def send(srv, rcpt, subject):
    msg = make_message(subject=subject, to=rcpt)
    with srv.session() as c:
        c.send_mail("someone@example.net", [rcpt], msg)
    return msg


def test_alias_fans_out_to_every_member(aliased):
    msg = send(aliased, "team@example.test", "to the team")
    for user in ("alice@example.test", "bob@example.test"):
        (raw,) = aliased.wait_for_mail(user)
        assert parse_delivered(raw).message == msg.replace(b"\r\n", b"\n")


def test_postmaster_alias_reaches_alice(aliased):
    send(aliased, "postmaster@example.test", "hello postmaster")
    aliased.wait_for_mail("alice@example.test")


def test_nested_alias_delivers_once_per_user(aliased):
    # everyone -> team (alice, bob) + postmaster (alice): alice only once.
    send(aliased, "everyone@example.test", "to everyone")
    aliased.wait_for_mail("alice@example.test")
    aliased.wait_for_mail("bob@example.test")
    aliased.wait_spool_empty()
    assert len(aliased.mail("alice@example.test")) == 1
    assert len(aliased.mail("bob@example.test")) == 1


def test_alias_written_as_full_address(aliased):
    send(aliased, "ops@example.test", "ops")
    aliased.wait_for_mail("bob@example.test")


def test_alias_with_an_off_site_member_delivers_locally_and_queues_the_rest(aliased):
    send(aliased, "mixed@example.test", "mixed list")
    aliased.wait_for_mail("alice@example.test")
    assert aliased.spool_files(), "the off-site member should keep the message queued"


def test_alias_with_an_unknown_member_delivers_to_the_others(aliased):
    send(aliased, "broken@example.test", "one member is unknown")
    aliased.wait_for_mail("alice@example.test")
    assert not aliased.mailbox("ghost@example.test").exists()
    # The unknown member's failure is in the mail log like any bounced recipient.
    bounced = [line for line in aliased.log_tail(200).splitlines()
               if "status=bounced" in line and "to=<ghost@example.test>" in line]
    assert len(bounced) == 1, aliased.log_tail()
    assert "orig_to=<broken@example.test>" in bounced[0]
    assert "dsn=5.1.1" in bounced[0]


def test_alias_loop_does_not_hang_and_reaches_the_real_member(aliased):
    # loop-a -> loop-b -> loop-a is a cycle, but loop-b also lists bob: bob gets it.
    with aliased.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<loop-a@example.test>")
        assert r.is_(250, "2.1.5"), r
        assert c.data(make_message(subject="loop")).code == 250
        assert c.cmd("NOOP").code == 250
    aliased.wait_for_mail("bob@example.test")
    aliased.wait_spool_empty()


def test_pure_alias_loop_is_refused_at_rcpt(aliased):
    """Issue "Keep every promise" 1: loop1 <-> loop2 used to get 250 at RCPT and at DATA,
    then `nrcpt=0` and silence. Now the client hears at once that nobody will get it."""
    with aliased.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<loop1@example.test>")
        assert r.is_(550, "5.4.6"), r
        assert "loop" in r.text.lower(), r
        r = c.cmd("DATA")
        assert r.code in (503, 554), r
    assert not aliased.spool_files()
    assert "event=alias-loop alias=<loop1@example.test>" in aliased.log_tail(200)
    assert "nrcpt=0" not in aliased.log_tail(200)


def test_alias_of_unknown_members_only_is_refused_with_5_1_1(aliased):
    with aliased.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<ghosts@example.test>")
        assert r.is_(550, "5.1.1"), r
    assert not aliased.spool_files()


def test_alias_of_relocated_members_only_is_refused_with_5_1_6(aliased):
    # No single new address to name (551 wants one): 550 5.1.6, "has moved".
    with aliased.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<moved@example.test>")
        assert r.is_(550, "5.1.6"), r
        # A relocated address given directly still names its new address.
        r = c.cmd("RCPT TO:<old@example.test>")
        assert r.is_(551, "5.1.6") and "old@elsewhere.example" in r.text, r


def test_duplicates_across_rcpts_are_delivered_once(aliased):
    with aliased.session() as c:
        c.send_mail("someone@example.net", ["team@example.test", "alice@example.test",
                                            "bob@example.test"],
                    make_message(subject="twice named"))
    aliased.wait_for_mail("alice@example.test")
    aliased.wait_for_mail("bob@example.test")
    aliased.wait_spool_empty()
    assert len(aliased.mail("alice@example.test")) == 1
    assert len(aliased.mail("bob@example.test")) == 1


def test_sendmail_to_a_looping_alias_is_refused_and_nothing_is_queued(aliased):
    r = subprocess.run([str(require_binary()), "sendmail", "-c", str(aliased.config_path),
                        "loop1@example.test"],
                       input=make_message(subject="via sendmail"), capture_output=True,
                       timeout=60)
    assert r.returncode != 0, r
    assert b"5.4.6" in r.stderr, r.stderr
    assert not aliased.spool_files()


def test_bounce_for_a_list_member_names_the_member_and_the_list(aliased):
    """Issue "Keep every promise" 3: RFC 3464 §2.3.2 Final-Recipient is the address that
    failed (ghost), Original-Recipient the one the sender wrote (lst)."""
    with aliased.session() as c:
        c.send_mail("alice@example.test", ["lst@example.test"],
                    make_message(subject="to the list", to="lst@example.test"))
    aliased.wait_for_mail("bob@example.test")
    (raw,) = aliased.wait_for_mail("alice@example.test")
    aliased.wait_spool_empty()
    assert len(aliased.mail("alice@example.test")) == 1
    assert raw.startswith(b"Return-Path: <>\n"), raw[:200]
    rep = parse_report(raw)
    assert rep.actions == ["failed"], rep.recipients
    (group,) = rep.recipients
    assert group.get("final-recipient", "").replace(" ", "").lower() == \
        "rfc822;ghost@example.test", group
    assert group.get("original-recipient", "").replace(" ", "").lower() == \
        "rfc822;lst@example.test", group
    assert group.get("status") == "5.1.1", group
    text = rep.msg.get_payload()[0].get_content()
    assert "<ghost@example.test> (expanded from <lst@example.test>)" in text, text


def test_bounce_to_a_local_sender_nobody_receives_for_is_logged_not_relayed(aliased):
    """The report for ghost would go to loop1@example.test, an alias loop: it cannot be
    delivered here and must not be relayed to our own domain; it is dropped with a log
    line (as Postfix drops double bounces), and the spool empties."""
    with aliased.session() as c:
        c.send_mail("loop1@example.test", ["lst@example.test"],
                    make_message(subject="from a looping alias", to="lst@example.test"))
    aliased.wait_for_mail("bob@example.test")
    aliased.wait_spool_empty()
    log = aliased.log_tail(300)
    assert "event=dsn-undeliverable to=<loop1@example.test>" in log, log
    # No report was queued, so nothing was ever sent toward loop1@example.test.
    assert " event=dsn " not in log, log
    assert not [line for line in log.splitlines() if "to=<loop1@example.test>" in line
                and "status=" in line], log


def test_bounce_original_recipient_is_the_orcpt_when_given(aliased):
    with aliased.session() as c:
        assert c.cmd("MAIL FROM:<alice@example.test>").code == 250
        r = c.cmd("RCPT TO:<lst@example.test> ORCPT=rfc822;List+2Bx@example.test")
        assert r.is_(250, "2.1.5"), r
        assert c.data(make_message(subject="with orcpt", to="lst@example.test")).code == 250
    (raw,) = aliased.wait_for_mail("alice@example.test")
    rep = parse_report(raw)
    (group,) = rep.recipients
    assert group.get("final-recipient", "").replace(" ", "").lower() == \
        "rfc822;ghost@example.test", group
    assert group.get("original-recipient", "").replace(" ", "") == "rfc822;List+x@example.test", \
        group


def test_alias_fan_out_writes_the_message_once_with_hard_links(aliased):
    send(aliased, "team@example.test", "one file, two links")
    aliased.wait_for_mail("alice@example.test")
    aliased.wait_for_mail("bob@example.test")
    (a,) = aliased.mail_files("alice@example.test")
    (b,) = aliased.mail_files("bob@example.test")
    assert a.samefile(b), "members of one alias share one file (hard links)"


def test_vrfy_answers_an_alias_that_leaves_nobody_as_rcpt_does(aliased):
    """VRFY must not promise (250) what RCPT then refuses: the same 550 and status."""
    with aliased.session() as c:
        assert c.cmd("VRFY loop1@example.test").is_(550, "5.4.6")
        assert c.cmd("VRFY ghosts@example.test").is_(550, "5.1.1")
        assert c.cmd("VRFY moved@example.test").is_(550, "5.1.6")
        r = c.cmd("VRFY lst@example.test")  # one member left: deliverable
        assert r.is_(250, "2.1.5") and "lst@example.test" in r.text, r
