"""The outside world for remote-delivery tests: a DNS server and receiving SMTP peers,
all on loopback (issue 4 "Tests", DESIGN.md §3 and §5).

* `DnsServer`: a real `unbound` on a free 127.0.0.1 port serving `ZONE` (the test
  domains below) from local-data only. It never recurses (`local-zone: "." static`), so
  nothing outside this machine is ever asked.
* `Peer`: a receiving MTA made with aiosmtpd on 127.0.0.x, sharing one port with the
  other peers (the server's [relay] outbound_port applies to every MX host). It records
  every transaction exactly as it was on the wire (sender, recipients, MAIL and RCPT
  parameters in their original case, the raw DATA bytes) and can refuse RCPT or DATA
  with a given reply, N times or always, or leave DSN, SMTPUTF8, 8BITMIME or
  PIPELINING out of its EHLO.
  It can also offer CHUNKING (and BINARYMIME): it then takes BDAT (RFC 3030) itself,
  recording each chunk's size and LAST flag, refuse MAIL, or refuse RCPT for one address.
  A peer on "::1" listens on IPv6 loopback (v6.test, dual.test).
* `ClosingListener`: something on a peer's address that accepts and hangs up at once,
  so a test can see that the server tried a host that is "down".
* `parse_report()`: a DSN / bounce read with Python's email package.
* The `remote` fixture ties these to `make_server`: import it into a test module with
  `from peers import remote  # noqa: F401`.

Addresses used (all of 127.0.0.0/8 is routed to lo on Linux):

    127.0.0.2  mx1.remote.test   remote.test MX 10
    127.0.0.3  mx2.remote.test   remote.test MX 20
    127.0.0.4  implicit.test     A only, no MX (RFC 5321 §5.1 implicit MX)
    127.0.0.5  smarthost         named by [relay] smarthost, not in DNS
    127.0.0.6  mx.other.test     other.test MX 10
    nullmx.test                  MX 0 . (RFC 7505)
    nxdomain.test                no such name
    ::1        mx6.v6.test       v6.test MX 10, AAAA only
    127.0.0.7 + ::1  mx.dual.test  dual.test MX 10; nothing listens on 127.0.0.7
"""

from __future__ import annotations

import asyncio
import ctypes
import email
import email.parser
import email.policy
import re
import shutil
import signal
import socket
import struct
import subprocess
import threading
import time
from dataclasses import dataclass, field
from email.message import Message
from pathlib import Path

import pytest

from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP

MX1 = "127.0.0.2"
MX2 = "127.0.0.3"
IMPLICIT = "127.0.0.4"
SMARTHOST = "127.0.0.5"
OTHER_MX = "127.0.0.6"
DUAL_V4 = "127.0.0.7"
V6 = "::1"
PEER_ADDRESSES = (MX1, MX2, IMPLICIT, SMARTHOST, OTHER_MX, DUAL_V4, V6)
PEER_NAMES = {
    MX1: "mx1.remote.test",
    MX2: "mx2.remote.test",
    IMPLICIT: "implicit.test",
    SMARTHOST: "smarthost.test",
    OTHER_MX: "mx.other.test",
    V6: "mx6.v6.test",
}

ZONE = """\
local-zone: "remote.test." static
local-data: "remote.test. 300 IN MX 10 mx1.remote.test."
local-data: "remote.test. 300 IN MX 20 mx2.remote.test."
local-data: "mx1.remote.test. 300 IN A 127.0.0.2"
local-data: "mx2.remote.test. 300 IN A 127.0.0.3"
local-zone: "implicit.test." static
local-data: "implicit.test. 300 IN A 127.0.0.4"
local-zone: "nullmx.test." static
local-data: "nullmx.test. 300 IN MX 0 ."
local-data: "nullmx.test. 300 IN A 127.0.0.4"
local-zone: "other.test." static
local-data: "other.test. 300 IN MX 10 mx.other.test."
local-data: "mx.other.test. 300 IN A 127.0.0.6"
local-zone: "v6.test." static
local-data: "v6.test. 300 IN MX 10 mx6.v6.test."
local-data: "mx6.v6.test. 300 IN AAAA ::1"
local-zone: "dual.test." static
local-data: "dual.test. 300 IN MX 10 mx.dual.test."
local-data: "mx.dual.test. 300 IN A 127.0.0.7"
local-data: "mx.dual.test. 300 IN AAAA ::1"
"""

WAIT_TIMEOUT = 15.0  # seconds for anything asynchronous: a peer's message, a bounce


def wait_until(predicate, what: str, timeout: float = WAIT_TIMEOUT, detail=lambda: ""):
    """Polls `predicate` (bounded) until it returns something true, and returns that."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout:.0f}s\n{detail()}")
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# DNS

def _free_dns_port() -> int:
    """A port free for both UDP and TCP on 127.0.0.1 right now."""
    for _ in range(20):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
                try:
                    tcp.bind(("127.0.0.1", port))
                except OSError:
                    continue
                return port
    raise RuntimeError("no port free for both UDP and TCP on 127.0.0.1")


def _dns_query(name: str, qtype: int, qid: int = 0x5068) -> bytes:
    """RFC 1035 §4.1 query with RD set and one question."""
    header = struct.pack(">HHHHHH", qid, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(label)]) + label.encode("ascii")
                     for label in name.rstrip(".").split(".")) + b"\x00"
    return header + qname + struct.pack(">HH", qtype, 1)


def dns_rcode(port: int, name: str, qtype: int = 15, timeout: float = 0.3) -> int | None:
    """The RCODE a DNS server on 127.0.0.1:port gives for NAME (MX by default), None when
    it does not answer."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.settimeout(timeout)
        try:
            s.sendto(_dns_query(name, qtype), ("127.0.0.1", port))
            reply = s.recv(4096)
        except OSError:
            return None
    if len(reply) < 12 or reply[:2] != b"\x50\x68":
        return None
    return reply[3] & 0x0F


def _die_with_parent():
    """In the child before exec: SIGTERM when the test process dies, even by SIGKILL, so
    that an interrupted run leaves no unbound behind (prctl PR_SET_PDEATHSIG)."""
    try:
        ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


class DnsServer:
    """unbound serving ZONE (plus `extra_zone`) on 127.0.0.1:<free port>, never recursing."""

    def __init__(self, root: Path, extra_zone: str = ""):
        self.root = root
        self.root.mkdir(parents=True, exist_ok=True)
        self.zone = ZONE + extra_zone
        self.conf = self.root / "unbound.conf"
        self.log_path = self.root / "unbound.log"
        self.proc: subprocess.Popen | None = None
        self.port = 0

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def start(self) -> "DnsServer":
        binary = shutil.which("unbound") or "/usr/sbin/unbound"
        if not Path(binary).exists():
            pytest.fail("unbound is not installed (scripts/bootstrap installs it)", pytrace=False)
        for _ in range(5):  # another program may take the port before unbound binds it
            self.port = _free_dns_port()
            self.conf.write_text(
                "server:\n"
                "  interface: 127.0.0.1\n"
                f"  port: {self.port}\n"
                "  do-ip6: no\n"
                "  so-reuseport: no\n"
                "  num-threads: 1\n"
                "  do-daemonize: no\n"
                '  username: ""\n'
                '  chroot: ""\n'
                '  pidfile: ""\n'
                f'  directory: "{self.root}"\n'
                "  use-syslog: no\n"
                '  logfile: ""\n'
                "  verbosity: 1\n"
                '  module-config: "iterator"\n'
                "  access-control: 127.0.0.0/8 allow\n"
                "  do-not-query-localhost: no\n"
                # Never recurse: every name outside the zones below is NXDOMAIN.
                '  local-zone: "." static\n'
                + "".join(f"  {line}\n" for line in self.zone.splitlines() if line.strip()),
                encoding="utf-8")
            log = open(self.log_path, "ab")
            self.proc = subprocess.Popen([binary, "-d", "-c", str(self.conf)],
                                         stdin=subprocess.DEVNULL, stdout=log,
                                         stderr=subprocess.STDOUT,
                                         preexec_fn=_die_with_parent)
            log.close()
            deadline = time.monotonic() + 15
            while time.monotonic() < deadline and self.proc.poll() is None:
                if dns_rcode(self.port, "remote.test") == 0:
                    return self
                time.sleep(0.05)
            self.stop()
        pytest.fail(f"unbound did not start:\n{self.log_tail()}", pytrace=False)

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def log_tail(self, n: int = 30) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no unbound log)"


# ---------------------------------------------------------------------------
# SMTP peers

def ipv6_loopback() -> bool:
    """::1 can be bound here (IPv6 is not switched off)."""
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def free_port_on(addresses) -> int:
    """A TCP port nobody listens on at any of `addresses` (nor on 127.0.0.1) right now;
    ::1 counts only where IPv6 is available (the IPv6 tests skip otherwise)."""
    if not ipv6_loopback():
        addresses = [a for a in addresses if ":" not in a]
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
            ok = True
            for addr in addresses:
                family = socket.AF_INET6 if ":" in addr else socket.AF_INET
                with socket.socket(family, socket.SOCK_STREAM) as t:
                    t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
                    try:
                        t.bind((addr, port))
                    except OSError:
                        ok = False
                        break
            if ok:
                return port
    raise RuntimeError(f"no port free on all of {addresses}")


@dataclass
class Transaction:
    """One MAIL transaction as a peer saw it. Parameter names are upper-cased keys;
    values are exactly as sent (True for a parameter without a value)."""

    mail_from: str  # between < and >, as sent ("" for the null sender)
    mail_params: dict
    helo: str
    rcpt_tos: list = field(default_factory=list)  # accepted recipients, as sent
    rcpt_params: list = field(default_factory=list)  # one dict per accepted recipient
    data: bytes | None = None  # the message (dot-unstuffed, CRLF), when DATA was accepted
    refused_rcpts: list = field(default_factory=list)  # (address, reply) refused by a fault
    data_reply: str = ""  # the reply given at the end of DATA
    data_started: bool = False  # the whole message arrived; the reply may still be pending
    chunks: list = field(default_factory=list)  # BDAT: (size, last) per chunk, in order
    mail_reply: str = ""  # a refusal of MAIL by a fault ("" = accepted)

    @property
    def delivered(self) -> bool:
        return self.data is not None


_ADDR_ARG_RE = re.compile(r"^(FROM|TO):\s*<(.*)>(.*)$", re.IGNORECASE | re.DOTALL)


def _split_params(text: str) -> dict:
    params = {}
    for p in text.split():
        key, eq, value = p.partition("=")
        params[key.upper()] = value if eq else True
    return params


class _Fault:
    """A reply given instead of the normal one: `times` times, or always (None)."""

    def __init__(self, reply: str, times: int | None):
        self.reply = reply
        self.times = times

    def take(self) -> str | None:
        if self.times is None:
            return self.reply
        if self.times > 0:
            self.times -= 1
            return self.reply
        return None


class _PeerSMTP(SMTP):
    """aiosmtpd's SMTP that records the wire form of MAIL and RCPT, understands the
    RFC 3461 DSN parameters when the peer offers DSN (aiosmtpd itself refuses them), and
    applies the peer's faults."""

    k_dsn_mail = ("RET", "ENVID")
    k_dsn_rcpt = ("NOTIFY", "ORCPT")

    def __init__(self, peer: "Peer", **kw):
        super().__init__(_PeerHandler(peer), **kw)
        self.peer = peer

    def _without_dsn_params(self, arg: str, names) -> tuple[str, str, dict]:
        """(arg to hand to aiosmtpd, address as sent, all parameters as sent)."""
        m = _ADDR_ARG_RE.match(arg or "")
        if not m:
            return arg, "", {}
        params = _split_params(m.group(3))
        if not self.peer.dsn:
            return arg, m.group(2), params
        kept = [p for p in m.group(3).split() if p.partition("=")[0].upper() not in names]
        return f"{m.group(1)}:<{m.group(2)}> {' '.join(kept)}".rstrip(), m.group(2), params

    async def smtp_MAIL(self, arg: str) -> None:
        stripped, address, params = self._without_dsn_params(arg, self.k_dsn_mail)
        with self.peer.lock:
            fault = self.peer._mail_fault.take() if self.peer._mail_fault else None
        if fault is not None and self.envelope.mail_from is None:
            tx = Transaction(mail_from=address, mail_params=params,
                             helo=self.session.host_name or "", mail_reply=fault)
            self.peer._record(tx)
            await self.push(fault)
            return
        if str(params.get("BODY", "")).upper() == "BINARYMIME" and self.peer.binarymime:
            # aiosmtpd knows 7BIT and 8BITMIME only; BINARYMIME is ours (RFC 3030 §3).
            kept = [p for p in stripped.split()[1:] if p.upper() != "BODY=BINARYMIME"]
            stripped = " ".join([stripped.split()[0]] + kept)
        await super().smtp_MAIL(stripped)
        if self.envelope.mail_from is not None and getattr(self.envelope, "tx", None) is None:
            tx = Transaction(mail_from=address, mail_params=params,
                             helo=self.session.host_name or "")
            self.envelope.tx = tx
            self.peer._record(tx)

    async def smtp_RCPT(self, arg: str) -> None:
        stripped, address, params = self._without_dsn_params(arg, self.k_dsn_rcpt)
        tx = getattr(self.envelope, "tx", None)
        if tx is not None:
            with self.peer.lock:
                self.peer.rcpt_commands += 1
                reply = self.peer._rcpt_fault.take() if self.peer._rcpt_fault else None
                per_address = self.peer._rcpt_faults.get(address.lower())
                if reply is None and per_address is not None:
                    reply = per_address.take()
            if reply is not None:
                tx.refused_rcpts.append((address, reply))
                await self.push(reply)
                return
        before = len(self.envelope.rcpt_tos)
        await super().smtp_RCPT(stripped)
        if tx is not None and len(self.envelope.rcpt_tos) > before:
            tx.rcpt_tos.append(address)
            tx.rcpt_params.append(params)


    async def smtp_BDAT(self, arg: str) -> None:
        """RFC 3030 §2: BDAT <size> [LAST], then exactly <size> octets; a refused chunk
        is still read and thrown away."""
        if not self.peer.chunking:
            await self.push("502 5.5.1 BDAT not offered")
            return
        parts = (arg or "").split()
        if not parts or not parts[0].isdigit() or len(parts) > 2 or \
                (len(parts) == 2 and parts[1].upper() != "LAST"):
            await self.push("501 5.5.4 Syntax: BDAT size [LAST]")
            return
        size, last = int(parts[0]), len(parts) == 2
        data = await self._reader.readexactly(size)
        tx = getattr(self.envelope, "tx", None)
        if tx is None or not self.envelope.rcpt_tos:
            await self.push("503 5.5.1 Error: need RCPT command")
            return
        tx.chunks.append((size, last))
        buf = getattr(self.envelope, "bdat", b"") + data
        self.envelope.bdat = buf
        if not last:
            await self.push(f"250 2.0.0 {size} octets received")
            return
        tx.data_started = True
        with self.peer.lock:
            reply = self.peer._data_fault.take() if self.peer._data_fault else None
        if reply is None:
            reply = "250 2.0.0 Ok: queued"
            tx.data = buf
        tx.data_reply = reply
        self._set_post_data_state()
        await self.push(reply)


class _PeerHandler:
    def __init__(self, peer: "Peer"):
        self.peer = peer

    async def handle_EHLO(self, server, session, envelope, hostname, responses):
        session.host_name = hostname
        keywords = [r[4:] for r in responses[1:]]
        drop = set()
        if not self.peer.smtputf8:
            drop.add("SMTPUTF8")
        if not self.peer.eightbitmime:
            drop.add("8BITMIME")
        keywords = [k for k in keywords if k.split()[0].upper() not in drop]
        extra = (["PIPELINING"] if self.peer.pipelining else []) + \
                (["DSN"] if self.peer.dsn else []) + ["ENHANCEDSTATUSCODES"] + \
                (["CHUNKING"] if self.peer.chunking else []) + \
                (["BINARYMIME"] if self.peer.binarymime else [])
        keywords = extra + keywords
        lines = [responses[0][4:]] + keywords
        return [f"250-{x}" for x in lines[:-1]] + [f"250 {lines[-1]}"]

    async def handle_DATA(self, server, session, envelope):
        tx = getattr(envelope, "tx", None)
        if tx is not None:
            tx.data_started = True
        if self.peer.data_delay:
            await asyncio.sleep(self.peer.data_delay)  # a slow peer: the reply comes later
        with self.peer.lock:
            reply = self.peer._data_fault.take() if self.peer._data_fault else None
        if reply is None:
            reply = "250 2.0.0 Ok: queued"
            if tx is not None:
                tx.data = envelope.original_content
        if tx is not None:
            tx.data_reply = reply
        return reply


class _PeerController(Controller):
    def __init__(self, peer: "Peer", **kw):
        super().__init__(None, hostname=peer.host, port=peer.port, **kw)
        self.peer = peer

    def factory(self):
        return _PeerSMTP(self.peer, **self.SMTP_kwargs)


class Peer:
    """A receiving MTA on host:port. Options say what its EHLO offers."""

    def __init__(self, host: str, port: int, *, dsn: bool = True, smtputf8: bool = True,
                 eightbitmime: bool = True, pipelining: bool = True, chunking: bool = False,
                 binarymime: bool = False):
        self.host = host
        self.port = port
        self.name = PEER_NAMES.get(host, host)
        self.dsn = dsn
        self.smtputf8 = smtputf8
        self.eightbitmime = eightbitmime
        self.pipelining = pipelining
        self.chunking = chunking
        self.binarymime = binarymime
        self._mail_fault: _Fault | None = None
        self._rcpt_faults: dict[str, _Fault] = {}
        self.lock = threading.Lock()
        self.transactions: list[Transaction] = []
        self.rcpt_commands = 0
        self._rcpt_fault: _Fault | None = None
        self._data_fault: _Fault | None = None
        self._controller: _PeerController | None = None
        self.data_delay = 0.0  # seconds before the reply to the end of DATA

    def __repr__(self):
        return f"<Peer {self.name} {self.host}:{self.port}>"

    # -- lifecycle ----------------------------------------------------------------
    def start(self) -> "Peer":
        if self._controller is None:
            # decode_data=False: raw bytes and 8BITMIME; a fresh controller per start
            # (aiosmtpd closes its loop on stop).
            self._controller = _PeerController(self, server_hostname=self.name,
                                               enable_SMTPUTF8=self.smtputf8,
                                               decode_data=False, ready_timeout=10)
            self._controller.start()
        return self

    def stop(self):
        if self._controller is not None:
            self._controller.stop()
            self._controller = None

    @property
    def running(self) -> bool:
        return self._controller is not None

    # -- faults -------------------------------------------------------------------
    def fail_rcpt(self, reply: str | None, times: int | None = None):
        """Answer RCPT with `reply` (e.g. "451 4.3.0 Try again later") `times` times, or
        always when times is None; reply None switches the fault off."""
        with self.lock:
            self._rcpt_fault = _Fault(reply, times) if reply else None

    def fail_rcpt_to(self, address: str, reply: str | None, times: int | None = None):
        """As fail_rcpt, for RCPT TO:<address> only."""
        with self.lock:
            if reply:
                self._rcpt_faults[address.lower()] = _Fault(reply, times)
            else:
                self._rcpt_faults.pop(address.lower(), None)

    def fail_mail(self, reply: str | None, times: int | None = None):
        """As fail_rcpt, for the reply to MAIL."""
        with self.lock:
            self._mail_fault = _Fault(reply, times) if reply else None

    def fail_data(self, reply: str | None, times: int | None = None):
        """As fail_rcpt, for the reply to the end of DATA."""
        with self.lock:
            self._data_fault = _Fault(reply, times) if reply else None

    # -- what arrived ---------------------------------------------------------------
    def _record(self, tx: Transaction):
        with self.lock:
            self.transactions.append(tx)

    @property
    def messages(self) -> list[Transaction]:
        """Transactions whose DATA was accepted."""
        with self.lock:
            return [t for t in self.transactions if t.delivered]

    def wait_for_messages(self, count: int = 1, timeout: float = WAIT_TIMEOUT,
                          detail=lambda: "") -> list[Transaction]:
        return wait_until(lambda: len(self.messages) >= count and self.messages,
                          f"{self.name} ({self.host}:{self.port}) receives {count} message(s)",
                          timeout, detail)

    def describe(self) -> str:
        with self.lock:
            txs = list(self.transactions)
        lines = [f"{self.name}: {len(txs)} transaction(s), {self.rcpt_commands} RCPT"]
        for t in txs:
            lines.append(f"  MAIL <{t.mail_from}> {t.mail_params} RCPT {t.rcpt_tos} "
                         f"{t.rcpt_params} refused {t.refused_rcpts} data "
                         f"{'yes' if t.delivered else 'no'} {t.data_reply!r}"
                         + (f" chunks {t.chunks}" if t.chunks else "")
                         + (f" MAIL refused {t.mail_reply!r}" if t.mail_reply else ""))
        return "\n".join(lines)


class ClosingListener:
    """Accepts connections on host:port and closes each at once, counting them: a host
    that is "down" for SMTP (no greeting) but shows that it was tried."""

    def __init__(self, host: str, port: int):
        self.host = host
        self.port = port
        self.accepted = 0
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind((host, port))
        self._sock.listen(16)
        self._sock.settimeout(0.1)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self):
        while not self._stop.is_set():
            try:
                conn, _ = self._sock.accept()
            except (socket.timeout, TimeoutError):
                continue
            except OSError:
                return
            conn.close()
            self.accepted += 1

    def stop(self):
        self._stop.set()
        self._thread.join()
        self._sock.close()


# ---------------------------------------------------------------------------
# Reports (RFC 3464 in RFC 6522 multipart/report)

@dataclass
class Report:
    msg: Message  # the whole message, parsed with email.policy.default
    report_type: str  # "delivery-status" or "global-delivery-status"
    per_message: dict  # lower-cased field name -> value
    recipients: list  # one dict per recipient field group
    returned: Message | None  # the third part (message/rfc822, text/rfc822-headers, ...)

    def recipient(self, address: str) -> dict:
        for r in self.recipients:
            final = r.get("final-recipient", "")
            if final.split(";", 1)[-1].strip().lower() == address.lower():
                return r
        raise AssertionError(f"no field group for {address} in {self.recipients}")

    @property
    def actions(self) -> list[str]:
        return [r.get("action", "").strip().lower() for r in self.recipients]


def _fields(block: Message) -> dict:
    return {k.lower(): str(v).strip() for k, v in block.items()}


def parse_report(raw: bytes) -> Report:
    """A DSN as Python's email package reads it; fails the test unless it is a
    multipart/report with a delivery-status part (RFC 3464, or RFC 6533's global form).
    Read as UTF-8 text: RFC 6532 header fields (utf-8 addresses in a global report) then
    come out as characters, where the bytes parser would replace them."""
    msg = email.message_from_string(raw.decode("utf-8", "surrogateescape"),
                                    policy=email.policy.default)
    assert msg.get_content_type() == "multipart/report", \
        f"not multipart/report but {msg.get_content_type()}:\n{raw[:3000]!r}"
    report_type = (msg.get_param("report-type") or "").lower()
    assert report_type in ("delivery-status", "global-delivery-status"), report_type
    parts = msg.get_payload()
    assert isinstance(parts, list) and len(parts) >= 2, f"{len(parts)} part(s)"
    status = parts[1]
    assert status.get_content_type() == f"message/{report_type}", \
        f"second part is {status.get_content_type()}, report-type {report_type}"
    blocks: list[dict] = []
    payload = status.get_payload()
    if isinstance(payload, str):  # not parsed into field groups: do it here
        payload = [email.message_from_string(b, policy=email.policy.default)
                   for b in re.split(r"\r?\n[ \t]*\r?\n", payload) if b.strip()]
    for block in payload:
        if block.keys():
            blocks.append(_fields(block))
        rest = block.get_payload()
        # message/global-delivery-status is read as one message: its "body" holds the
        # recipient groups.
        if isinstance(rest, str) and rest.strip():
            for b in re.split(r"\r?\n[ \t]*\r?\n", rest):
                if b.strip():
                    blocks.append(_fields(email.parser.HeaderParser(
                        policy=email.policy.default).parsestr(b.strip() + "\n")))
    assert blocks, "empty delivery-status part"
    return Report(msg=msg, report_type=report_type, per_message=blocks[0],
                  recipients=blocks[1:], returned=parts[2] if len(parts) > 2 else None)


# ---------------------------------------------------------------------------
# The fixture

class Remote:
    """DNS, peers and servers configured to deliver to them, for one test."""

    def __init__(self, root: Path, make_server):
        self.root = root
        self._make_server = make_server
        self.dns = DnsServer(root / "dns").start()
        self.port = free_port_on(PEER_ADDRESSES)
        self.peers: dict[str, Peer] = {}
        self.listeners: list[ClosingListener] = []
        self.servers = []

    def peer(self, host: str = MX1, start: bool = True, **options) -> Peer:
        """The peer on host:<shared port>, made (and started) on first use."""
        if host not in self.peers:
            self.peers[host] = Peer(host, self.port, **options)
        p = self.peers[host]
        if start:
            p.start()
        return p

    def closing_listener(self, host: str) -> ClosingListener:
        lst = ClosingListener(host, self.port)
        self.listeners.append(lst)
        return lst

    def make_server(self, *, smarthost: str = "", retry=("1h",), delay_warning: str = "0s",
                    max_lifetime: str = "1d", **options):
        """A server that resolves through self.dns and delivers to port self.port.
        Retries default to rare and warnings to off, so that a test sees only what it
        asks for."""
        srv = self._make_server(
            nameservers=[self.dns.address], outbound_port=self.port, smarthost=smarthost,
            queue={"retry": list(retry), "delay_warning": delay_warning,
                   "max_lifetime": max_lifetime},
            **options)
        self.servers.append(srv)
        return srv

    def describe(self) -> str:
        parts = [p.describe() for p in self.peers.values()]
        parts += [f"closing listener {l.host}:{l.port}: {l.accepted} connection(s)"
                  for l in self.listeners]
        for srv in self.servers:
            parts.append(f"spool: {[p.name for p in srv.spool_files()]}")
            parts.append(f"server log:\n{srv.log_tail(40)}")
        return "\n".join(parts)

    def close(self):
        try:
            for lst in self.listeners:
                lst.stop()
            for p in self.peers.values():
                p.stop()
        finally:
            self.dns.stop()


@pytest.fixture
def remote(tmp_path, make_server):
    """DNS on loopback and peers on 127.0.0.x for remote delivery; see Remote."""
    r = Remote(tmp_path / "remote", make_server)
    yield r
    # Servers first (make_server's teardown runs after this one): nothing may connect
    # to a peer that is going away.
    for srv in r.servers:
        srv.stop()
    r.close()


def local_reports(server, address: str) -> list[Report]:
    """Every message in the local user's Maildir, parsed as a report."""
    return [parse_report(raw) for raw in server.mail(address)]


# ---------------------------------------------------------------------------
# Submitting and collecting

def submit(server, sender: str, rcpts: list[str], message: bytes, mail_params: str = "",
           rcpt_params: str = "") -> str:
    """One transaction on the server's mx listener from 127.0.0.1 (a trusted network, so
    it may relay); every step must succeed. Returns the queue id."""
    with server.session() as c:
        r = c.cmd(f"MAIL FROM:<{sender}>" + (f" {mail_params}" if mail_params else ""))
        assert r.code == 250, f"MAIL: {r}"
        for rcpt in rcpts:
            r = c.cmd(f"RCPT TO:<{rcpt}>" + (f" {rcpt_params}" if rcpt_params else ""))
            assert r.code == 250, f"RCPT {rcpt}: {r}"
        r = c.data(message)
        assert r.code == 250, f"end of DATA: {r}"
        m = re.match(r"^2\.0\.0 Ok: queued as (\S+)", r.last)
        assert m, f"250 does not name the queue id: {r.line()!r}"
        c.quit()
        return m.group(1)


def settled_reports(server, remote: Remote, address: str, count: int,
                    timeout: float = WAIT_TIMEOUT) -> list[Report]:
    """Waits until the local user holds `count` messages and the spool is empty (so that
    nothing more can come), then checks that there are exactly `count` and that each is a
    report sent from <> with Auto-Submitted (RFC 3464 §2, RFC 3834 §5), and parses them."""
    wait_until(lambda: len(server.mail(address)) >= count,
               f"{count} report(s) in {address}'s Maildir", timeout, remote.describe)
    wait_until(lambda: not server.spool_files(), "the spool empties", timeout, remote.describe)
    raws = server.mail(address)
    assert len(raws) == count, \
        f"{len(raws)} message(s) for {address}, expected {count}:\n" + \
        "\n----\n".join(r.decode("utf-8", "replace")[:1500] for r in raws)
    reports = []
    for raw in raws:
        first = raw.split(b"\n", 1)[0]
        assert first == b"Return-Path: <>", f"a report comes from the null sender: {first!r}"
        rep = parse_report(raw)
        assert rep.msg["Auto-Submitted"] is not None and \
            str(rep.msg["Auto-Submitted"]).strip().lower().startswith("auto-replied"), \
            rep.msg["Auto-Submitted"]
        reports.append(rep)
    return reports
