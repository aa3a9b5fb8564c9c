"""SIGHUP reloads users and aliases without dropping sessions (issue 3 §TLS, DESIGN §4.4)."""

import signal
import time


def wait_log(server, needle: str, timeout: float = 10.0) -> None:
    deadline = time.monotonic() + timeout
    while needle not in server.log_tail(200):
        assert time.monotonic() < deadline, f"no {needle!r} in the log:\n{server.log_tail()}"
        time.sleep(0.05)


def test_sighup_reloads_aliases_and_keeps_open_sessions(server):
    with server.session() as old:
        assert old.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = old.cmd("RCPT TO:<newlist@example.test>")
        assert r.is_(550, "5.1.1"), r
        server.aliases_file.write_text("newlist: alice, bob\n", encoding="utf-8")
        server.proc.send_signal(signal.SIGHUP)
        wait_log(server, "event=reload what=accounts")
        # The open session goes on with what it started with: `team` exists only in the
        # old aliases file, `newlist` only in the new one.
        assert old.cmd("NOOP").code == 250
        r = old.cmd("RCPT TO:<team@example.test>")
        assert r.is_(250, "2.1.5"), r
        r = old.cmd("RCPT TO:<newlist@example.test>")
        assert r.is_(550, "5.1.1"), r
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        r = c.cmd("RCPT TO:<team@example.test>")
        assert r.is_(550, "5.1.1"), r
        assert c.cmd("RSET").code == 250
        c.send_mail("someone@example.net", ["newlist@example.test"],
                    b"Subject: reload\r\n\r\nhello\r\n")
    assert len(server.wait_for_mail("alice@example.test")) == 1
    assert len(server.wait_for_mail("bob@example.test")) == 1


def test_a_broken_aliases_file_on_reload_keeps_the_old_one(server):
    server.aliases_file.write_text("team: alice, bob\n", encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    wait_log(server, "event=reload what=accounts")
    server.aliases_file.write_text("team alice |/bin/sh\n", encoding="utf-8")
    server.proc.send_signal(signal.SIGHUP)
    # The aliases file is part of the config: the whole reload is refused.
    wait_log(server, "event=reload-failed what=config")
    assert server.running()
    with server.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd("RCPT TO:<team@example.test>").code == 250
