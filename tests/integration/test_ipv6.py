"""IPv6 listeners (`address = "[::1]:port"`), tested on ::1 with smtplib: the client
address in Received: is an RFC 5321 §4.1.3 IPv6 address literal, trusted_networks
matches "::1/128", and an IPv6 listener (IPV6_V6ONLY) shares its port number with an
IPv4 one."""

import smtplib
import socket

import pytest

from conftest import HOSTNAME, free_port, parse_delivered
from smtpclient import make_message


def ipv6_loopback_works() -> bool:
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


pytestmark = pytest.mark.skipif(not ipv6_loopback_works(), reason="no IPv6 loopback here")


def free_port_v6() -> int:
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        return s.getsockname()[1]


def v6_server(make_server, port=None, **options):
    port = port or free_port_v6()
    srv = make_server(extra_toml=f'[[listen]]\naddress = "[::1]:{port}"\nrole = "mx"\n',
                      **options)
    srv.v6_port = port
    return srv


def test_ipv6_listener_takes_mail_and_received_has_the_ipv6_literal(make_server):
    srv = v6_server(make_server)
    with smtplib.SMTP("::1", srv.v6_port, local_hostname="client.example.net", timeout=15) as s:
        code, banner = s.ehlo()
        assert code == 250
        assert s.sock.getpeername()[0] == "::1"
        refused = s.sendmail("someone@example.net", ["alice@example.test"], make_message())
        assert refused == {}
    (raw,) = srv.wait_for_mail("alice@example.test")
    d = parse_delivered(raw)
    assert d.received.startswith(
        f"Received: from client.example.net (unknown [IPv6:::1]) by {HOSTNAME} (posthorn) "
        "with ESMTP id "), d.received
    log = srv.log_path.read_text(errors="replace")
    assert f"event=connect client=[::1] listener=[::1]:{srv.v6_port}" in log


def test_default_trusted_networks_let_ipv6_loopback_relay(make_server):
    srv = v6_server(make_server)  # default trusted_networks: 127.0.0.0/8 and ::1/128
    with smtplib.SMTP("::1", srv.v6_port, timeout=15) as s:
        s.ehlo("client.example.net")
        assert s.mail("someone@example.net")[0] == 250
        assert s.rcpt("someone@remote.test")[0] == 250


def test_ipv6_loopback_outside_trusted_networks_cannot_relay(make_server):
    srv = v6_server(make_server, trusted_networks=["127.0.0.0/8"])
    with smtplib.SMTP("::1", srv.v6_port, timeout=15) as s:
        s.ehlo("client.example.net")
        assert s.mail("someone@example.net")[0] == 250
        code, msg = s.rcpt("someone@remote.test")
        assert code == 550 and msg.startswith(b"5.7.1"), msg
    srv2 = v6_server(make_server, trusted_networks=["::1/128"])
    with smtplib.SMTP("::1", srv2.v6_port, timeout=15) as s:
        s.ehlo("client.example.net")
        assert s.mail("someone@example.net")[0] == 250
        assert s.rcpt("someone@remote.test")[0] == 250


def test_ipv6_listener_shares_the_port_number_of_an_ipv4_one(make_server):
    # IPV6_V6ONLY: [::1]:p takes IPv6 only, so 127.0.0.1:p can be bound beside it.
    for _ in range(5):
        port = free_port()
        try:
            with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as probe:
                probe.bind(("::1", port))
            break
        except OSError:
            continue
    srv = make_server(start=False, extra_toml=f'[[listen]]\naddress = "[::1]:{port}"\n'
                                              f'[[listen]]\naddress = "127.0.0.1:{port}"\n')
    srv.start()
    for host in ("::1", "127.0.0.1"):
        with smtplib.SMTP(host, port, timeout=15) as s:
            assert s.ehlo("client.example.net")[0] == 250
            assert s.sock.getpeername()[0] == host
