"""Aliases (aliases(5) style): fan-out, nested lists, off-site and unknown members,
alias loops."""

import pytest

from conftest import parse_delivered
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
"""


@pytest.fixture
def aliased(make_server):
    return make_server(aliases=ALIASES)


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
    with aliased.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<loop-a@example.test>")
        assert r.code in (250, 550, 554), r
        if r.code == 250:
            assert c.data(make_message(subject="loop")).code == 250
            aliased.wait_for_mail("bob@example.test")
        assert c.cmd("NOOP").code == 250


def test_alias_fan_out_writes_the_message_once_with_hard_links(aliased):
    send(aliased, "team@example.test", "one file, two links")
    aliased.wait_for_mail("alice@example.test")
    aliased.wait_for_mail("bob@example.test")
    (a,) = aliased.mail_files("alice@example.test")
    (b,) = aliased.mail_files("bob@example.test")
    assert a.samefile(b), "members of one alias share one file (hard links)"
