"""SIGHUP reloads the config file itself (issue 5, DESIGN.md §4.4): new sessions get the
new settings, sessions under way keep theirs, and a config that is broken anywhere (the
file's syntax, a value, a users file it names) is refused with a log line naming the
file and line while the old config stays entirely in force. Settings bound at start
(listen, ...) are named in restart_needed and keep their running values."""

import re
import signal
import socket
import time

from conftest import DOMAIN, free_port
from smtpclient import make_message

RELOAD_TIMEOUT = 10.0


def config_lines(server) -> list[str]:
    """The log lines that end a reload, success or refusal (one per SIGHUP)."""
    return [line for line in server.log_path.read_text(errors="replace").splitlines()
            if "event=reload what=config" in line or "event=reload-failed what=config" in line]


def reload(server) -> str:
    """SIGHUP, then waits for this reload's outcome line and returns it."""
    before = len(config_lines(server))
    server.proc.send_signal(signal.SIGHUP)
    deadline = time.monotonic() + RELOAD_TIMEOUT
    while len(config_lines(server)) == before:
        assert server.running(), f"posthorn died on SIGHUP:\n{server.log_tail()}"
        assert time.monotonic() < deadline, f"no reload outcome in the log:\n{server.log_tail()}"
        time.sleep(0.05)
    return config_lines(server)[before]


def advertised_size(reply) -> int:
    sizes = [int(m.group(1)) for line in reply.lines if (m := re.fullmatch(r"SIZE (\d+)", line))]
    assert len(sizes) == 1, f"EHLO does not advertise one SIZE: {reply}"
    return sizes[0]


def line_of(path, needle: str) -> int:
    """1-based number of the first line of `path` holding `needle`."""
    for n, line in enumerate(path.read_text().splitlines(), start=1):
        if needle in line:
            return n
    raise AssertionError(f"{needle!r} not in {path}")


def assert_still_delivers(server, rcpt: str = f"alice@{DOMAIN}") -> None:
    before = len(server.mail(rcpt))
    with server.session() as c:
        c.send_mail("someone@example.net", [rcpt], make_message(to=rcpt))
    server.wait_for_mail(rcpt, before + 1)


def test_a_new_message_size_applies_to_new_sessions_and_not_to_open_ones(make_server):
    srv = make_server(limits={"message_size": "10M"})
    with srv.session() as old:
        assert advertised_size(old.cmd("EHLO client.example.net")) == 10_000_000
        srv.limits["message_size"] = "20M"
        srv.write_config()
        line = reload(srv)
        assert "event=reload what=config" in line and "restart_needed" not in line, line
        with srv.session() as new:
            assert advertised_size(new.cmd("EHLO client.example.net")) == 20_000_000
        # The session opened before the reload keeps the settings it started with.
        assert advertised_size(old.cmd("EHLO client.example.net")) == 10_000_000
        old.send_mail("someone@example.net", [f"bob@{DOMAIN}"], make_message(to=f"bob@{DOMAIN}"))
    srv.wait_for_mail(f"bob@{DOMAIN}")


def test_a_config_syntax_error_on_reload_keeps_the_old_config(make_server):
    srv = make_server(limits={"message_size": "10M"})
    text = srv.config_path.read_text()
    srv.config_path.write_text(text.replace("[limits]", "[limits\nmessage_size = \"20M\""))
    line = reload(srv)
    n = line_of(srv.config_path, "[limits")
    assert "event=reload-failed what=config" in line, line
    assert f'reason="{srv.config_path}:{n}:' in line, line
    assert srv.running()
    with srv.session() as c:
        assert advertised_size(c.cmd("EHLO client.example.net")) == 10_000_000
    assert_still_delivers(srv)


def test_a_bad_value_on_reload_names_file_line_and_key_and_keeps_the_old_config(make_server):
    srv = make_server(limits={"message_size": "10M", "recipients": 50})
    srv.limits = {"message_size": "lots", "recipients": 60}
    srv.write_config()
    line = reload(srv)
    n = line_of(srv.config_path, "message_size")
    assert "event=reload-failed what=config" in line, line
    assert f'reason="{srv.config_path}:{n}: limits.message_size: ' in line, line
    with srv.session() as c:
        assert advertised_size(c.cmd("EHLO client.example.net")) == 10_000_000
    assert_still_delivers(srv)


def test_a_users_file_that_does_not_parse_refuses_the_whole_reload(make_server):
    srv = make_server(limits={"message_size": "10M"})
    # A good change to the config file in the same reload must not slip through either.
    srv.limits["message_size"] = "20M"
    srv.write_config()
    srv.users_file.write_text(f"alice@{DOMAIN}:{'x' * 20}\nthis line has no colon\n")
    line = reload(srv)
    assert "event=reload-failed what=config" in line, line
    assert f'reason="{srv.users_file}:2:' in line, line
    with srv.session() as c:
        assert advertised_size(c.cmd("EHLO client.example.net")) == 10_000_000
        # bob is still a user: the old users file is in force.
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<bob@{DOMAIN}>").code == 250
    assert_still_delivers(srv, f"bob@{DOMAIN}")


def test_the_config_fixed_after_a_refused_reload_loads(make_server):
    srv = make_server(limits={"message_size": "10M"})
    srv.limits["message_size"] = "lots"
    srv.write_config()
    assert "reload-failed" in reload(srv)
    srv.limits["message_size"] = "30M"
    srv.write_config()
    line = reload(srv)
    assert "event=reload what=config" in line, line
    with srv.session() as c:
        assert advertised_size(c.cmd("EHLO client.example.net")) == 30_000_000


def test_a_changed_listen_needs_a_restart_and_the_rest_applies(make_server):
    srv = make_server(limits={"message_size": "10M"})
    old_port = srv.port
    new_port = free_port()
    srv.ports = [new_port]
    srv.limits["message_size"] = "20M"
    srv.write_config()
    line = reload(srv)
    assert "event=reload what=config" in line, line
    assert 'restart_needed="listen"' in line, line
    # Still on the old address, not on the new one...
    with socket.socket() as s:
        assert s.connect_ex(("127.0.0.1", new_port)) != 0
    srv.ports = [old_port]
    # ...and the settings that can change did.
    with srv.session() as c:
        assert advertised_size(c.cmd("EHLO client.example.net")) == 20_000_000
    assert_still_delivers(srv)


def test_a_new_alias_in_a_reloaded_config_delivers(make_server):
    srv = make_server()
    # The config now names another aliases file; the reload reads it.
    other = srv.root / "aliases.new"
    other.write_text("sales: bob\n")
    srv.config_path.write_text(srv.config_path.read_text().replace(
        f'aliases_file = "{srv.aliases_file}"', f'aliases_file = "{other}"'))
    line = reload(srv)
    assert "event=reload what=config" in line, line
    with srv.session() as c:
        c.send_mail("someone@example.net", [f"sales@{DOMAIN}"], make_message(to=f"sales@{DOMAIN}"))
    srv.wait_for_mail(f"bob@{DOMAIN}")

