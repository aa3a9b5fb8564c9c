"""Many sessions at once: every accepted message is delivered exactly once."""

import threading

from conftest import parse_delivered
from smtpclient import SmtpConn, make_message

SESSIONS = 200


def test_200_concurrent_sessions_are_all_delivered(make_server):
    srv = make_server(limits={"connections_per_ip": 1000})
    barrier = threading.Barrier(SESSIONS, timeout=120)
    queue_ids: dict[int, str] = {}
    errors: list[str] = []

    def client(i: int):
        try:
            with SmtpConn(srv.port, timeout=120) as c:
                assert c.banner.code == 220, c.banner
                # Every session is open before any of them sends mail.
                barrier.wait()
                assert c.ehlo(f"client{i}.example.net").code == 250
                rcpt = "alice@example.test" if i % 2 == 0 else "bob@example.test"
                queue_ids[i] = c.send_mail(f"sender{i}@example.net", [rcpt],
                                           make_message(subject=f"session {i}"))
                c.quit()
        except Exception as e:  # collected and reported below
            errors.append(f"session {i}: {type(e).__name__}: {e}")
            barrier.abort()

    threads = [threading.Thread(target=client, args=(i,)) for i in range(SESSIONS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=300)
    assert not any(t.is_alive() for t in threads), "client threads still running"
    # The first real failure first: the others may only say that the barrier broke.
    errors.sort(key=lambda e: "BrokenBarrierError" in e)
    assert not errors, f"{len(errors)} sessions failed:\n" + "\n".join(errors[:10])
    assert len(set(queue_ids.values())) == SESSIONS, "queue ids must be unique"

    half = SESSIONS // 2
    alice = srv.wait_for_mail("alice@example.test", half, timeout=120)
    bob = srv.wait_for_mail("bob@example.test", half, timeout=120)
    srv.wait_spool_empty(timeout=60)
    alice, bob = srv.mail("alice@example.test"), srv.mail("bob@example.test")
    assert len(alice) == half and len(bob) == half

    subjects = sorted(
        line for raw in alice + bob for line in parse_delivered(raw).message.split(b"\n")
        if line.startswith(b"Subject: "))
    assert subjects == sorted(f"Subject: session {i}".encode() for i in range(SESSIONS))
