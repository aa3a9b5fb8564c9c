"""Durability (DESIGN.md §4.1): a 250 survives kill -9; recovery delivers complete
queue files exactly once and removes incomplete ones; SIGTERM stops cleanly."""

import signal

from conftest import parse_delivered, run_cli
from smtpclient import make_message


def test_kill_9_with_mail_queued_then_restart_delivers_exactly_once(server):
    """The messages must still be queued when the server dies, or the test would prove
    nothing about recovery: alice's Maildir path is a plain file, so every local delivery
    fails (temporarily) and the messages wait in the spool. kill -9, repair the Maildir,
    restart: recovery hands all of them on, each delivered exactly once."""
    blocker = server.mailbox("alice@example.test")
    blocker.parent.mkdir(parents=True, exist_ok=True)
    blocker.write_bytes(b"not a Maildir\n")
    subjects = [f"survivor {i}" for i in range(5)]
    ids = []
    with server.session() as c:
        for s in subjects:
            ids.append(c.send_mail("someone@example.net", ["alice@example.test"],
                                   make_message(subject=s)))
        # Every message is queued and at least the first has been tried and deferred.
        server.wait_log(rf"id={ids[0]} .*status=deferred")
        assert sorted(ids) == sorted(p.name for p in server.spool_files()), server.log_tail()
        server.kill()  # no chance to deliver or clean up
    assert sorted(ids) == sorted(p.name for p in server.spool_files())
    blocker.unlink()
    server.restart()
    server.wait_log(rf"event=recovered messages={len(ids)}\b", since_start=True)
    # The deferred ones wait for their retry time ([queue] retry): make them due now.
    r = run_cli("queue", "flush", config=server.config_path)
    assert r.returncode == 0, r.stderr
    server.wait_for_mail("alice@example.test", len(subjects))
    server.wait_spool_empty()
    got = sorted(line.decode() for raw in server.mail("alice@example.test")
                 for line in parse_delivered(raw).message.split(b"\n")
                 if line.startswith(b"Subject: "))
    assert got == sorted(f"Subject: {s}" for s in subjects), \
        f"each message exactly once\nfiles: {[p.name for p in server.mail_files('alice@example.test')]}"\
        f"\nserver log:\n{server.log_tail(80)}"


def test_kill_9_during_data_leaves_nothing_behind(server):
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<alice@example.test>").code == 250
        assert c.cmd("DATA").code == 354
        c.send(b"Subject: never finished\r\n\r\n" + b"x" * 500_000 + b"\r\n")
        server.kill()
    server.restart()
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], make_message(subject="next"))
    server.wait_for_mail("alice@example.test")
    server.wait_spool_empty()
    (raw,) = server.mail("alice@example.test")
    assert b"Subject: next" in raw
    incoming = server.state_dir / "spool" / "incoming"
    assert not incoming.is_dir() or not any(incoming.iterdir()), list(incoming.iterdir())


def test_incomplete_queue_files_are_removed_at_start(make_server):
    srv = make_server(start=False)
    for sub in ("incoming", "active"):
        (srv.state_dir / "spool" / sub).mkdir(parents=True, exist_ok=True)
    torn_incoming = srv.state_dir / "spool" / "incoming" / "0000000000TORN"
    torn_incoming.write_bytes(b"half a queue file")
    garbage_active = srv.state_dir / "spool" / "active" / "0000000000JUNK"
    garbage_active.write_bytes(b"not a queue file at all\n" * 10)
    srv.start()
    # Recovery runs before the listeners open: by the banner it is done.
    srv.wait_log(r"event=recovered messages=0\b")
    assert not torn_incoming.exists(), "never acknowledged: removed"
    assert not garbage_active.exists()
    # A committed file that fails its checks is not deleted but set aside for the
    # administrator (spool/corrupt/, like Postfix's corrupt queue), bytes untouched.
    kept = srv.state_dir / "spool" / "corrupt" / "0000000000JUNK"
    assert kept.read_bytes() == b"not a queue file at all\n" * 10
    srv.wait_log(r"id=0000000000JUNK event=corrupt .*moved=\S*spool/corrupt/0000000000JUNK")
    assert not srv.maildir_root.exists() or not any(srv.maildir_root.rglob("new/*"))
    # And the server works.
    with srv.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], make_message())
    srv.wait_for_mail("alice@example.test")


def test_sigterm_stops_cleanly_with_status_0(server):
    with server.session() as c:
        c.send_mail("someone@example.net", ["alice@example.test"], make_message())
    server.proc.send_signal(signal.SIGTERM)
    assert server.proc.wait(timeout=15) == 0, server.log_tail()


def test_queued_mail_survives_a_clean_restart(server):
    with server.session() as c:
        qid = c.send_mail("someone@example.net", ["friend@elsewhere.example"],
                          make_message(subject="for relay"))
    assert server.stop() == 0
    assert any(qid in p.name for p in server.spool_files())
    server.restart()
    assert any(qid in p.name for p in server.spool_files())
