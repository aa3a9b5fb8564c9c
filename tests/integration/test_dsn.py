"""The DSN extension on the way out (RFC 3461, issue 4): parameters passed on to a next
hop that offers DSN, and a "relayed" report when the next hop does not."""

from peers import MX1, remote, settled_reports, submit  # noqa: F401
from smtpclient import make_message

ALICE = "alice@example.test"


def test_dsn_parameters_are_passed_on_to_a_peer_that_offers_dsn(remote):
    mx1 = remote.peer(MX1, dsn=True)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="with DSN parameters"),
           mail_params="RET=HDRS ENVID=abc", rcpt_params="NOTIFY=SUCCESS,FAILURE ORCPT=rfc822;x@y")

    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert str(tx.mail_params.get("RET", "")).upper() == "HDRS", tx.mail_params
    assert tx.mail_params.get("ENVID") == "abc", tx.mail_params  # xtext, passed on as given
    (params,) = tx.rcpt_params
    assert sorted(str(params.get("NOTIFY", "")).upper().split(",")) == ["FAILURE", "SUCCESS"], \
        params
    addr_type, _, orcpt = str(params.get("ORCPT", "")).partition(";")
    assert (addr_type.lower(), orcpt) == ("rfc822", "x@y"), params
    # The peer took over the duty to report success: no "relayed" report from us.
    settled_reports(srv, remote, ALICE, 0)


def test_relayed_report_when_the_peer_does_not_offer_dsn(remote):
    mx1 = remote.peer(MX1, dsn=False)
    srv = remote.make_server(retry=["1h"])
    submit(srv, ALICE, ["bob@remote.test"], make_message(subject="notify success"),
           rcpt_params="NOTIFY=SUCCESS")

    (tx,) = mx1.wait_for_messages(1, detail=remote.describe)
    assert tx.rcpt_params == [{}], "no DSN parameters to a peer that does not offer DSN"
    (rep,) = settled_reports(srv, remote, ALICE, 1)
    assert rep.actions == ["relayed"], rep.recipients
    group = rep.recipient("bob@remote.test")
    assert group.get("status", "").startswith("2."), group
    assert len(mx1.messages) == 1
