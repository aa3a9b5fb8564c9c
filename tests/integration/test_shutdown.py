"""SIGTERM stops gracefully (issue 5): no new sessions, idle sessions get 421 4.3.2,
a message in the middle of DATA is either committed (250, then delivered once) or
refused with 421 (never acknowledged), and the server exits 0."""

from __future__ import annotations

import signal
import socket

import pytest

from peers import remote  # noqa: F401  (fixture)
from smtpclient import make_message, data_payload

ALICE = "alice@example.test"


def wait_exit(server, timeout=20.0) -> int:
    server.proc.wait(timeout=timeout)
    return server.proc.returncode


def test_idle_session_gets_421_and_server_exits_0(make_server):
    server = make_server()
    c = server.session()
    server.proc.send_signal(signal.SIGTERM)
    r = c.read_reply()
    assert r.is_(421, "4.3.2"), r
    assert c.closed_by_server()
    assert wait_exit(server) == 0
    assert "event=stopped" in server.log_tail()
    # The listener is gone: nobody answers on the port any more.
    with pytest.raises(OSError):
        socket.create_connection(("127.0.0.1", server.port), timeout=2).close()


def test_message_in_data_is_committed_within_the_grace_time(make_server):
    server = make_server(limits={"shutdown_timeout": "20s"})
    c = server.session()
    assert c.cmd(f"MAIL FROM:<someone@example.net>").code == 250
    assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
    assert c.cmd("DATA").code == 354
    message = make_message(subject="in flight at SIGTERM")
    payload = data_payload(message)
    half = len(payload) // 2
    c.send(payload[:half])
    server.proc.send_signal(signal.SIGTERM)
    # The stop has begun (listeners closed, idle sessions told 421) while this one is in
    # DATA: it must be let finish.
    server.wait_log(r"event=stopping signal=15 ")
    assert server.running(), "the server must wait for the transaction under way"
    c.send(payload[half:])
    r = c.read_reply()
    assert r.code == 250, r
    # The transaction is over: the session ends with 421 at its next wait for a command.
    r = c.read_reply()
    assert r.is_(421, "4.3.2"), r
    assert wait_exit(server) == 0
    # Delivered exactly once: before the stop, or after the restart from the spool.
    server.restart()
    server.wait_for_mail(ALICE)
    # An empty spool means no delivery is left to make: the count below is final.
    server.wait_spool_empty()
    msgs = server.mail(ALICE)
    assert len(msgs) == 1
    assert b"in flight at SIGTERM" in msgs[0]


def test_stalled_data_gets_421_after_the_grace_time_and_nothing_is_kept(make_server):
    server = make_server(limits={"shutdown_timeout": "1s"})
    c = server.session()
    assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
    assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
    assert c.cmd("DATA").code == 354
    c.send(b"Subject: never finished\r\n\r\npart of a body\r\n")
    server.proc.send_signal(signal.SIGTERM)
    r = c.read_reply()
    assert r.is_(421, "4.3.2"), r
    assert wait_exit(server) == 0
    # Never acknowledged, so never kept: nothing in the spool, nothing delivered.
    assert server.spool_files() == []
    server.restart()
    # Recovery runs before the listeners open: it found nothing to deliver.
    server.wait_log(r"event=recovered messages=0\b", since_start=True)
    assert server.mail(ALICE) == []
    assert server.spool_files() == []


def test_session_between_transactions_is_closed_even_with_grace_left(make_server):
    # A grace time far beyond any wait below: an exit at all proves it was not waited out.
    server = make_server(limits={"shutdown_timeout": "1h"})
    c = server.session()
    c.send_mail("someone@example.net", [ALICE], make_message())
    server.proc.send_signal(signal.SIGTERM)
    r = c.read_reply()
    assert r.is_(421, "4.3.2"), r
    assert wait_exit(server) == 0
    log = server.log_tail(200)
    # Nothing was under way: no session had to be closed at the end of the grace time,
    # and nothing was cut short.
    assert "event=stopping closing=" not in log, log
    assert "unfinished_deliveries=" not in log, log


def test_local_submit_socket(make_server):
    """The Unix socket for `posthorn sendmail`: mode 0666, ESMTP, trusted (may relay),
    and Received: names the submitting uid."""
    import os
    server = make_server()
    path = server.state_dir / "submit.sock"
    assert path.is_socket()
    assert (path.stat().st_mode & 0o777) == 0o666
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(10)
    s.connect(str(path))
    f = s.makefile("rwb", buffering=0)

    def reply() -> list[bytes]:
        lines = []
        while True:
            line = f.readline()
            assert line, "closed"
            lines.append(line)
            if line[3:4] == b" ":
                return lines

    assert reply()[0].startswith(b"220 ")
    f.write(b"EHLO localhost\r\n")
    assert b"STARTTLS" not in b"".join(reply())
    f.write(b"MAIL FROM:<root@example.test>\r\n")
    assert reply()[0].startswith(b"250")
    f.write(f"RCPT TO:<{ALICE}>\r\n".encode())
    assert reply()[0].startswith(b"250")
    # A remote recipient is accepted too: local users may relay.
    f.write(b"RCPT TO:<someone@elsewhere.example>\r\n")
    assert reply()[0].startswith(b"250")
    f.write(b"DATA\r\n")
    assert reply()[0].startswith(b"354")
    f.write(b"Subject: local\r\n\r\nbody\r\n.\r\n")
    assert reply()[0].startswith(b"250 2.0.0")
    f.write(b"QUIT\r\n")
    assert reply()[0].startswith(b"221")
    s.close()
    msg = server.wait_for_mail(ALICE)[0]
    received = msg.split(b"\r\n\r\n")[0]
    assert f"from localhost (uid={os.getuid()})".encode() in received, received
    assert server.stop() == 0
    assert not path.exists(), "the socket file is removed at a clean stop"


def test_sigterm_waits_for_a_remote_delivery_under_way_so_it_is_not_sent_twice(remote):
    """A peer that takes its time over the end of DATA: SIGTERM lets that delivery
    finish and records it, so the restarted server does not send the message again."""
    from peers import MX1, submit, wait_until
    mx1 = remote.peer(MX1)
    mx1.data_delay = 2.0
    srv = remote.make_server(limits={"shutdown_timeout": "20s"})
    submit(srv, "someone@example.net", ["bob@remote.test"], make_message(subject="slow peer"))
    wait_until(lambda: any(t.data_started for t in mx1.transactions),
               "the peer has the message and holds its reply", detail=remote.describe)
    srv.proc.send_signal(signal.SIGTERM)
    assert wait_exit(srv) == 0
    assert len(mx1.messages) == 1
    assert srv.spool_files() == [], "the delivery was recorded before the exit"
    mx1.data_delay = 0.0
    srv.restart()
    # Recovery found nothing queued, so nothing can go to the peer again.
    srv.wait_log(r"event=recovered messages=0\b", since_start=True)
    assert srv.spool_files() == []
    assert len(mx1.messages) == 1, remote.describe()


def test_a_delivery_outlasting_the_grace_time_is_cut_off_and_tried_again_after_the_start(remote):
    """The peer answers DATA only after the grace time (0s + 5s): the server exits 0
    anyway, without crashing on the cut-off delivery, and the restarted server delivers
    the message (a second copy at worst, RFC 1047; never none)."""
    from peers import MX1, submit, wait_until
    mx1 = remote.peer(MX1)
    mx1.data_delay = 8.0
    srv = remote.make_server(limits={"shutdown_timeout": "0s"})
    submit(srv, "someone@example.net", ["bob@remote.test"], make_message(subject="very slow peer"))
    wait_until(lambda: any(t.data_started for t in mx1.transactions),
               "the peer has the message and holds its reply", detail=remote.describe)
    srv.proc.send_signal(signal.SIGTERM)
    assert wait_exit(srv, timeout=30) == 0
    assert "unfinished_deliveries=1" in srv.log_tail()
    assert len(srv.spool_files()) == 1, "not recorded as delivered: still queued"
    mx1.data_delay = 0.0
    srv.restart()
    wait_until(lambda: not srv.spool_files(), "the queue empties after the restart",
               detail=remote.describe)
    assert 1 <= len(mx1.messages) <= 2
