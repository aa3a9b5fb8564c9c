"""Backup MX and ETRN (RFC 1985; DESIGN.md §4.6 `[domains] relay`).

Mail for a relay domain is accepted from a client that is neither trusted nor
authenticated ([relay] trusted_networks = []), and relayed to the domain's MX hosts,
never to ourselves nor to an MX no better than us (RFC 5321 §5.1); when we are the
best MX left it stays queued. `ETRN <domain>` starts the domain's queue at once: with
[queue] retry = "1h", a delivery seen within the bounded wait after ETRN can only come
from the ETRN.

The test DNS (unbound, peers.py) gets these zones besides the usual ones:

    relay.test      MX 10 mx.relay.test (127.0.0.7, a peer)
    backup.test     MX 10 self.backup.test (127.0.0.9: our own second listener, on the
                    peers' port), MX 20 mx.backup.test (127.0.0.8, a peer that must
                    never get the mail)
    secondary.test  MX 10 mx.secondary.test (127.0.0.10, the primary), MX 20
                    mx.example.test (our hostname; its address 127.0.0.12 is not one of
                    our listeners, so only the name says it is us), MX 30
                    worse.secondary.test (127.0.0.11, a peer that must never get the mail)
"""

import json

import pytest

from conftest import HOSTNAME, run_cli
from peers import PEER_ADDRESSES, DnsServer, Remote, free_port_on, wait_until
from smtpclient import make_message

RELAY_MX = "127.0.0.7"
BACKUP_OTHER = "127.0.0.8"
SELF_ADDR = "127.0.0.9"
PRIMARY = "127.0.0.10"
WORSE = "127.0.0.11"
NOBODY = "127.0.0.12"  # our hostname's address in DNS: nothing listens there

RELAY_ZONE = f"""\
local-zone: "relay.test." static
local-data: "relay.test. 300 IN MX 10 mx.relay.test."
local-data: "mx.relay.test. 300 IN A {RELAY_MX}"
local-zone: "backup.test." static
local-data: "backup.test. 300 IN MX 10 self.backup.test."
local-data: "backup.test. 300 IN MX 20 mx.backup.test."
local-data: "self.backup.test. 300 IN A {SELF_ADDR}"
local-data: "mx.backup.test. 300 IN A {BACKUP_OTHER}"
local-zone: "secondary.test." static
local-data: "secondary.test. 300 IN MX 10 mx.secondary.test."
local-data: "secondary.test. 300 IN MX 20 {HOSTNAME}."
local-data: "secondary.test. 300 IN MX 30 worse.secondary.test."
local-data: "mx.secondary.test. 300 IN A {PRIMARY}"
local-data: "worse.secondary.test. 300 IN A {WORSE}"
local-zone: "example.test." static
local-data: "{HOSTNAME}. 300 IN A {NOBODY}"
"""

SENDER = "someone@sender.example"
QUIET = 2.0  # seconds to watch that something does NOT happen


@pytest.fixture
def relay_net(tmp_path, make_server):
    """peers.Remote with the zones above, its port free on our extra addresses too."""
    r = Remote(tmp_path / "remote", make_server)
    try:
        r.dns.stop()
        r.dns = DnsServer(tmp_path / "dns-relay", extra_zone=RELAY_ZONE).start()
        r.port = free_port_on(PEER_ADDRESSES + (RELAY_MX, BACKUP_OTHER, SELF_ADDR, PRIMARY, WORSE))
    except BaseException:
        r.close()
        raise
    yield r
    for srv in r.servers:
        srv.stop()
    r.close()


def backup_mx(relay_net, **options):
    """A server that is backup MX for the three domains, trusts no network, and also
    listens on SELF_ADDR at the peers' port (the address+port backup.test's best MX names)."""
    return relay_net.make_server(
        relay_domains=("relay.test", "backup.test", "secondary.test"), trusted_networks=[],
        extra_toml=f'[[listen]]\naddress = "{SELF_ADDR}:{relay_net.port}"\nrole = "mx"\n',
        **options)


def send_untrusted(srv, rcpt: str, subject: str) -> str:
    """One message from 127.0.0.1, which is not trusted here, without AUTH."""
    with srv.session() as c:
        r = c.cmd(f"MAIL FROM:<{SENDER}>")
        assert r.is_(250, "2.1.0"), r
        r = c.cmd(f"RCPT TO:<{rcpt}>")
        assert r.is_(250, "2.1.5"), f"a relay domain takes mail from anyone: {r}"
        r = c.data(make_message(subject=subject, to=rcpt))
        assert r.is_(250, "2.0.0"), r
        c.quit()
        return r.last.split()[-1]


def queue_entry(srv, qid: str) -> dict | None:
    r = run_cli("queue", "list", "--json", config=srv.config_path)
    assert r.returncode == 0, r.stderr
    for m in json.loads(r.stdout):
        if m["id"] == qid:
            return m
    return None


def wait_deferred(srv, relay_net, qid: str, attempts: int = 1) -> dict:
    """Until the message's recipient has been tried `attempts` times and is deferred."""
    def deferred():
        m = queue_entry(srv, qid)
        if m is None:
            return None
        (rc,) = m["recipients"]
        return rc if rc["status"] == "deferred" and rc["attempts"] >= attempts else None
    return wait_until(deferred, f"{qid} deferred after {attempts} attempt(s)",
                      detail=relay_net.describe)


def test_relay_domain_mail_from_an_untrusted_client_reaches_its_mx(relay_net):
    peer = relay_net.peer(RELAY_MX)
    srv = backup_mx(relay_net)
    with srv.session() as c:
        ehlo = c.cmd("EHLO client.example.net")
        assert "ETRN" in ehlo.lines, ehlo
        assert c.cmd(f"MAIL FROM:<{SENDER}>").is_(250, "2.1.0")
        r = c.cmd("RCPT TO:<carol@remote.test>")
        assert r.is_(550, "5.7.1") and "Relaying denied" in r.last, "still no open relay"
        r = c.cmd("RCPT TO:<dave@sub.relay.test>")
        assert r.is_(550, "5.7.1"), "subdomains are not relayed for unless listed"
        assert c.cmd("RCPT TO:<bob@relay.test>").is_(250, "2.1.5")
        r = c.data(make_message(subject="via the backup mx", to="bob@relay.test"))
        assert r.is_(250, "2.0.0"), r
        c.quit()

    (tx,) = peer.wait_for_messages(1, detail=relay_net.describe)
    assert tx.mail_from == SENDER
    assert tx.rcpt_tos == ["bob@relay.test"]
    assert b"Subject: via the backup mx\r\n" in tx.data
    wait_until(lambda: not srv.spool_files(), "the spool empties", detail=relay_net.describe)


def test_etrn_starts_delivery_of_the_queued_domain_at_once(relay_net):
    peer = relay_net.peer(RELAY_MX, start=False)  # the primary is down at first
    srv = backup_mx(relay_net, retry=["1h"])
    qid = send_untrusted(srv, "bob@relay.test", "waiting for etrn")
    rc = wait_deferred(srv, relay_net, qid)
    assert rc["last_reply"].startswith("4"), rc
    assert srv.spool_files(), "a deferred message stays queued"

    peer.start()
    c = srv.connect()
    try:
        r = c.cmd("ETRN relay.test")
        assert r.is_(503, "5.5.1"), f"ETRN before EHLO: {r}"
        assert c.cmd("EHLO client.example.net").code == 250
        r = c.cmd("ETRN other.test")
        assert r.is_(459, "4.7.1") and "other.test" in r.last, r
        r = c.cmd("ETRN #relayqueue")
        assert r.is_(459), f"named queues are not supported: {r}"
        r = c.cmd("ETRN")
        assert r.is_(501, "5.5.4"), r
        r = c.cmd("ETRN relay.test")
        assert r.line() == "253 2.0.0 OK, 1 pending messages for node relay.test started", r
        (tx,) = peer.wait_for_messages(1, detail=relay_net.describe)
        assert tx.rcpt_tos == ["bob@relay.test"]
        assert b"Subject: waiting for etrn\r\n" in tx.data
        wait_until(lambda: not srv.spool_files(), "the spool empties", detail=relay_net.describe)

        r = c.cmd("ETRN relay.test")
        assert r.line() == "251 2.0.0 OK, no messages waiting for node relay.test", r
        r = c.cmd("ETRN @relay.test")
        assert r.is_(251, "2.0.0"), r
        assert c.cmd(f"MAIL FROM:<{SENDER}>").code == 250
        r = c.cmd("ETRN relay.test")
        assert r.is_(503, "5.5.1"), f"ETRN inside a mail transaction: {r}"
        c.quit()
    finally:
        c.close()
    assert len(peer.messages) == 1


def test_best_mx_for_a_relay_domain_keeps_the_mail_queued_and_never_bounces(relay_net):
    other = relay_net.peer(BACKUP_OTHER)  # MX 20: worse than us (10), must get nothing
    srv = backup_mx(relay_net, retry=["1h"])
    qid = send_untrusted(srv, "erin@backup.test", "we are the best mx")
    rc = wait_deferred(srv, relay_net, qid)
    assert rc["last_reply"].startswith("451 4.4.4 "), rc
    assert "best MX for backup.test" in rc["last_reply"], rc

    # ETRN tries again at once (attempt 2): still the best MX, still queued.
    with srv.session() as c:
        r = c.cmd("ETRN backup.test")
        assert r.is_(253, "2.0.0"), r
        c.quit()
    rc = wait_deferred(srv, relay_net, qid, attempts=2)
    assert "best MX" in rc["last_reply"], rc
    assert queue_entry(srv, qid)["recipients"][0]["status"] == "deferred"
    assert not other.transactions, relay_net.describe()
    assert srv.spool_files(), "the message is neither sent nor bounced"


def test_a_backup_mx_relays_only_to_better_mx_hosts(relay_net):
    primary = relay_net.peer(PRIMARY)
    worse = relay_net.peer(WORSE)  # MX 30, worse than us (20): never used
    srv = backup_mx(relay_net, retry=["1h"])
    send_untrusted(srv, "fred@secondary.test", "to the primary")
    (tx,) = primary.wait_for_messages(1, detail=relay_net.describe)
    assert tx.rcpt_tos == ["fred@secondary.test"]

    primary.stop()
    qid = send_untrusted(srv, "gina@secondary.test", "primary down")
    rc = wait_deferred(srv, relay_net, qid)
    assert rc["last_reply"].startswith("4"), rc
    assert not worse.transactions, relay_net.describe()
    assert srv.spool_files()
