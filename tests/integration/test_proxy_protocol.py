"""PROXY protocol v1 and v2 (HAProxy) on a listener with proxy_protocol = true (DESIGN.md
§4.6): the header comes first on every connection and names the client, which is then
the one used everywhere (Received:, trusted_networks, logs); a connection without a
valid header is closed without a greeting. Headers are written raw over a socket (v2 with
struct). Every address is on loopback; trusted_networks is 127.0.0.1 alone, so the
clients the headers name (127.0.0.55 ...) are not trusted."""

import socket
import struct

import pytest

from conftest import HOSTNAME, client_tls_context, free_port, parse_delivered
from smtpclient import SmtpConn, make_message

V2_SIG = b"\r\n\r\n\x00\r\nQUIT\n"
REMOTE = "someone@remote.test"


def v1(src: str, dst: str = "127.0.0.1", sport: int = 40000, dport: int = 25,
       proto: str = "TCP4") -> bytes:
    return f"PROXY {proto} {src} {dst} {sport} {dport}\r\n".encode()


def v2_inet(src: str, dst: str = "127.0.0.1", sport: int = 40000, dport: int = 25,
            tlvs: bytes = b"", command: int = 0x1) -> bytes:
    block = socket.inet_aton(src) + socket.inet_aton(dst) + struct.pack("!HH", sport, dport)
    block += tlvs
    return V2_SIG + struct.pack("!BBH", 0x20 | command, 0x11, len(block)) + block


def v2_inet6(src: str, dst: str = "::1", sport: int = 40000, dport: int = 25) -> bytes:
    block = (socket.inet_pton(socket.AF_INET6, src) + socket.inet_pton(socket.AF_INET6, dst)
             + struct.pack("!HH", sport, dport))
    return V2_SIG + struct.pack("!BBH", 0x21, 0x21, len(block)) + block


def v2_local() -> bytes:
    return V2_SIG + struct.pack("!BBH", 0x20, 0x00, 0)



class ProxyServer:
    """A server whose second listener (mx, or `role`) expects PROXY headers; the first,
    plain one is what the harness waits on."""

    def __init__(self, make_server, role: str = "mx", **options):
        self.proxy_port = free_port()
        extra = (f'[[listen]]\naddress = "127.0.0.1:{self.proxy_port}"\nrole = "{role}"\n'
                 "proxy_protocol = true\n")
        options.setdefault("trusted_networks", ["127.0.0.1/32"])
        self.srv = make_server(extra_toml=extra, **options)

    def open(self, header: bytes, timeout: float = 15.0) -> SmtpConn:
        """Connects to the PROXY listener, sends `header` and reads the greeting."""
        c = SmtpConn(self.proxy_port, read_banner=False, timeout=timeout)
        c.send(header)
        c.banner = c.read_reply()
        return c


@pytest.fixture
def proxy(make_server) -> ProxyServer:
    return ProxyServer(make_server)


def deliver_one(p: ProxyServer, header: bytes) -> tuple[str, str]:
    """A message to alice over a PROXY connection; returns (queue id, Received:)."""
    before = len(p.srv.mail("alice@example.test"))  # counted before: delivery may be quick
    with p.open(header) as c:
        assert c.banner.code == 220 and c.banner.last == f"{HOSTNAME} ESMTP posthorn", c.banner
        assert c.ehlo("client.example.net").code == 250
        qid = c.send_mail("someone@example.net", ["alice@example.test"], make_message())
        c.quit()
    raw = p.srv.wait_for_mail("alice@example.test", count=before + 1)
    for msg in raw:
        d = parse_delivered(msg)
        if f"id {qid}" in d.received:
            return qid, d.received
    raise AssertionError(f"{qid} not delivered")


def test_v1_header_names_the_client_in_received_and_logs(proxy):
    qid, received = deliver_one(proxy, v1("127.0.0.55", sport=41234))
    assert received.startswith(
        "Received: from client.example.net (unknown [127.0.0.55]) "
        f"by {HOSTNAME} (posthorn) with ESMTP id {qid}"), received
    proxy.srv.wait_log(rf"event=connect client=\[127\.0\.0\.55\] "
                        rf"listener=127\.0\.0\.1:{proxy.proxy_port} proxy=\[127\.0\.0\.1\]")
    proxy.srv.wait_log(rf"id={qid} event=queued .* client=\[127\.0\.0\.55\]")


def test_v2_header_with_tlvs_names_the_client(proxy):
    # PP2_TYPE_AUTHORITY and PP2_TYPE_NOOP TLVs after the addresses are skipped.
    tlvs = b"\x02" + struct.pack("!H", 15) + b"mx.example.test" + b"\x04" + struct.pack("!H", 2) + b"xx"
    qid, received = deliver_one(proxy, v2_inet("127.0.0.56", tlvs=tlvs))
    assert "(unknown [127.0.0.56])" in received, received


def test_v1_tcp6_header_names_an_ipv6_client(proxy):
    qid, received = deliver_one(proxy, v1("::1", "::1", proto="TCP6"))
    assert "(unknown [IPv6:::1])" in received, received


def test_v2_tcp6_header_names_an_ipv6_client(proxy):
    qid, received = deliver_one(proxy, v2_inet6("::1"))
    assert "(unknown [IPv6:::1])" in received, received


def test_v2_local_and_v1_unknown_keep_the_real_peer(proxy):
    for header in (v2_local(), b"PROXY UNKNOWN\r\n"):
        qid, received = deliver_one(proxy, header)
        assert "(unknown [127.0.0.1])" in received, received


def test_the_header_decides_trust(proxy):
    # The real peer 127.0.0.1 is trusted; 127.0.0.55 (from the header) is not.
    with proxy.open(v1("127.0.0.55")) as c:
        assert c.ehlo().code == 250
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").is_(550, "5.7.1")
    with proxy.open(v2_inet("127.0.0.1")) as c:
        assert c.ehlo().code == 250
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{REMOTE}>").code == 250


def test_smtp_pipelined_after_the_header_is_kept(proxy):
    c = SmtpConn(proxy.proxy_port, read_banner=False)
    with c:
        c.send(v1("127.0.0.55") + b"EHLO client.example.net\r\nNOOP\r\n")
        assert c.read_reply().code == 220
        assert c.read_reply().code == 250
        assert c.read_reply().is_(250, "2.0.0")


@pytest.mark.parametrize("first", [
    b"EHLO client.example.net\r\n",
    b"PROXY TCP4 127.0.0.55 127.0.0.1 40000\r\n",
    b"PROXY TCP4 127.0.0.55 127.0.0.1 40000 25\n",
    b"GET / HTTP/1.0\r\n\r\n",
    V2_SIG + b"\x21\x12\x00\x0c" + bytes(12),  # UDP
], ids=["smtp", "v1-short", "v1-bare-lf", "http", "v2-udp"])
def test_a_connection_without_a_valid_header_is_closed_without_a_greeting(proxy, first):
    with SmtpConn(proxy.proxy_port, read_banner=False) as c:
        c.send(first)
        got = b""
        try:
            while True:
                chunk = c.sock.recv(4096)
                if not chunk:
                    break
                got += chunk
        except ConnectionResetError:
            pass
        assert got == b""
    proxy.srv.wait_log(r"event=proxy-failed client=\[127\.0\.0\.1\] listener=")


def test_a_silent_connection_is_closed_without_a_greeting(make_server):
    p = ProxyServer(make_server, limits={"command_timeout": "1s"})
    with SmtpConn(p.proxy_port, read_banner=False) as c:
        assert c.closed_by_server()
        assert c.buf == b""
    p.srv.wait_log(r"event=proxy-failed client=\[127\.0\.0\.1\] .*reason=\"timeout\"")


def test_the_plain_listener_next_to_it_needs_no_header(proxy):
    with proxy.srv.connect() as c:
        assert c.banner.code == 220
        assert c.ehlo().code == 250


def test_submissions_reads_the_header_before_the_tls_handshake(make_server):
    p = ProxyServer(make_server, role="submissions", sections={"tls": {"self_signed": True}})
    c = SmtpConn(p.proxy_port, read_banner=False)
    with c:
        c.send(v1("127.0.0.57", dport=465))
        c.sock = client_tls_context().wrap_socket(c.sock)
        banner = c.read_reply()
        assert banner.code == 220, banner
        assert c.ehlo().code == 250
    p.srv.wait_log(r"event=tls client=\[127\.0\.0\.57\]")
