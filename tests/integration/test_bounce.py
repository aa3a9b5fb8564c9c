"""Bounces and delay warnings (issue 4, DESIGN.md §4.2 "Bounce statuses"): RFC 3464
reports in RFC 6522 multipart/report, sent from <> to the sender (here a local user, so
the report lands in her Maildir and Python's email package reads it).

"Exactly one" is checked once the spool is empty: then nothing more can come.
"""

import re

from conftest import HOSTNAME
from peers import (MX1, OTHER_MX, parse_report, remote, settled_reports,  # noqa: F401
                   submit, wait_until)
from smtpclient import make_message

ALICE = "alice@example.test"


def assert_failed(report, rcpt: str, status: str):
    """One field group for rcpt, Action failed with `status`, and the basics of a bounce."""
    assert report.report_type in ("delivery-status", "global-delivery-status")
    assert HOSTNAME in report.per_message.get("reporting-mta", ""), report.per_message
    assert len(report.recipients) == 1, report.recipients
    group = report.recipient(rcpt)
    assert group.get("action", "").lower() == "failed", group
    assert group.get("status") == status, group
    to = str(report.msg["To"] or "")
    assert ALICE in to, f"the bounce goes to the sender: To: {to}"
    return group


def returned_text(report) -> str:
    assert report.returned is not None, "the report returns the message or its headers"
    return report.returned.as_string()


def test_null_mx_bounces_at_once_with_5_1_10(remote):
    srv = remote.make_server(retry=["1h"])  # a bounce within the wait comes from attempt one
    submit(srv, ALICE, ["bob@nullmx.test"], make_message(subject="to a null MX"))
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    assert_failed(rep, "bob@nullmx.test", "5.1.10")
    assert "Subject: to a null MX" in returned_text(rep)


def test_nxdomain_bounces_with_5_1_2(remote):
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@nxdomain.test"], make_message(subject="to nowhere"))
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    assert_failed(rep, "bob@nxdomain.test", "5.1.2")
    assert "Subject: to nowhere" in returned_text(rep)


def test_5xx_at_rcpt_bounces_with_the_peers_status(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("550 5.1.1 <nobody@remote.test>: Recipient address rejected: User unknown")
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["nobody@remote.test"], make_message(subject="unknown there"))
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    group = assert_failed(rep, "nobody@remote.test", "5.1.1")
    diagnostic = group.get("diagnostic-code", "")
    assert re.search(r"550[ -]5\.1\.1", diagnostic) and "User unknown" in diagnostic, group
    assert re.search(r"mx1\.remote\.test|127\.0\.0\.2", group.get("remote-mta", "")), group
    assert "Subject: unknown there" in returned_text(rep)
    assert not mx1.messages


def test_lifetime_expiry_bounces_once_with_4_4_7_and_action_failed(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("451 4.3.0 Try again later")  # always
    srv = remote.make_server(retry=["1s"], max_lifetime="4s")
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="too late"))
    (rep,) = settled_reports(srv, remote, ALICE, 1, timeout=30)
    group = assert_failed(rep, "bob@remote.test", "4.4.7")
    assert "451" in group.get("diagnostic-code", ""), f"the last reply is reported: {group}"
    assert mx1.rcpt_commands >= 2, remote.describe()
    assert not mx1.messages


def test_delay_warning_is_sent_once_and_the_bounce_follows(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("451 4.3.0 Try again later")
    srv = remote.make_server(retry=["1s"], delay_warning="2s", max_lifetime="1h")
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="slow"))
    wait_until(lambda: srv.mail(ALICE), "a delay warning", timeout=30, detail=remote.describe)
    # A few more attempts after the warning, then a permanent refusal ends the message, so
    # the spool empties and every report it caused can be counted.
    seen = mx1.rcpt_commands
    wait_until(lambda: mx1.rcpt_commands >= seen + 3, "three more attempts after the warning",
               timeout=30, detail=remote.describe)
    mx1.fail_rcpt("550 5.1.1 <bob@remote.test>: User unknown")
    reports = settled_reports(srv, remote, ALICE, 2, timeout=30)

    actions = sorted(a for r in reports for a in r.actions)
    assert actions == ["delayed", "failed"], [r.recipients for r in reports]
    delayed, failed = sorted(reports, key=lambda r: r.actions[0])
    group = delayed.recipient("bob@remote.test")
    assert group.get("status", "").startswith("4."), group
    assert failed.actions == ["failed"], failed.recipients
    assert failed.recipient("bob@remote.test").get("status") == "5.1.1"


def test_no_bounce_for_a_message_from_the_null_sender(remote):
    mx1 = remote.peer(MX1)
    mx1.fail_rcpt("550 5.1.1 <nobody@remote.test>: User unknown")
    srv = remote.make_server(retry=["1h"])
    submit(srv, "", ["nobody@remote.test", "bob@nxdomain.test"],
           make_message(subject="a bounce that bounces", sender="MAILER-DAEMON@example.net"))
    wait_until(lambda: mx1.rcpt_commands >= 1, "the peer is asked", detail=remote.describe)
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    delivered = [p for p in srv.maildir_root.rglob("new/*")] if srv.maildir_root.exists() else []
    assert not delivered, f"nothing is sent for a message from <>: {delivered}"


def test_utf8_envelope_to_a_peer_without_smtputf8_bounces_with_5_6_7(remote):
    mx1 = remote.peer(MX1, smtputf8=False)
    srv = remote.make_server(retry=["1h"])
    rcpt = "jörg@remote.test"
    message = ("From: <alice@example.test>\r\nTo: <jörg@remote.test>\r\n"
               "Subject: needs SMTPUTF8\r\nMIME-Version: 1.0\r\n"
               "Content-Type: text/plain; charset=utf-8\r\n\r\nGrüße.\r\n").encode("utf-8")
    submit(srv, ALICE, [rcpt], message, mail_params="SMTPUTF8 BODY=8BITMIME")
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    assert_failed(rep, rcpt, "5.6.7")
    assert not mx1.messages, remote.describe()


def test_bounce_to_a_remote_sender_is_relayed_to_the_senders_mx(remote):
    """The sender is elsewhere (other.test, MX mx.other.test): the report goes out by SMTP
    from the null sender to that MX, and it is a report about the right recipient."""
    other = remote.peer(OTHER_MX)
    srv = remote.make_server(retry=["1h"])
    sender = "carol@other.test"
    submit(srv, sender, ["bob@nxdomain.test"], make_message(subject="to nowhere, from afar"))
    (tx,) = other.wait_for_messages(1, detail=remote.describe)
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=remote.describe)
    assert tx.mail_from == "", "a report comes from the null sender (RFC 5321 §4.5.5)"
    assert tx.rcpt_tos == [sender]
    assert len(other.messages) == 1, remote.describe()
    rep = parse_report(tx.data)
    assert HOSTNAME in rep.per_message.get("reporting-mta", ""), rep.per_message
    assert len(rep.recipients) == 1, rep.recipients
    group = rep.recipient("bob@nxdomain.test")
    assert group.get("action", "").lower() == "failed", group
    assert group.get("status") == "5.1.2", group
    assert sender in str(rep.msg["To"] or "")
    assert str(rep.msg["Auto-Submitted"] or "").lower().startswith("auto-replied")
    assert "Subject: to nowhere, from afar" in returned_text(rep)


def test_5xx_at_the_end_of_data_bounces_with_the_peers_status(remote):
    """The peer takes MAIL and RCPT, then refuses the message after its end (RFC 5321
    §4.2.5): final; alice gets one report naming the peer's reply, nothing is retried."""
    other = remote.peer(OTHER_MX)
    other.fail_data("554 5.6.0 Message content rejected")
    srv = remote.make_server(retry=["1s"])  # a retry, were there one, would come at once
    submit(srv, ALICE, ["dave@other.test"], make_message(subject="refused content"))
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    group = assert_failed(rep, "dave@other.test", "5.6.0")
    diagnostic = group.get("diagnostic-code", "")
    assert re.search(r"554[ -]5\.6\.0", diagnostic) and "content rejected" in diagnostic, group
    assert "Subject: refused content" in returned_text(rep)
    (tx,) = other.transactions  # one attempt only
    assert tx.data_started and not tx.delivered and tx.data_reply.startswith("554"), \
        remote.describe()
