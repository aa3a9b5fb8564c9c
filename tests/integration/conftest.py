"""Integration test harness: the real posthorn binary on free loopback ports.

Each test gets its own temp dir holding the config, the state_dir, the users and
aliases files and the Maildir root (DESIGN.md §4.3). `make_server(...)` writes a
config, starts `posthorn serve -c FILE`, waits for the 220 banner and stops the
server at teardown. Delivery is asynchronous after "250": tests wait for files with
a bounded poll (`wait_for_mail`) and never assert on timing.

Run with /usr/bin/python3 (Debian's python3-pytest); POSTHORN_BIN names the binary
(default: <repo>/build/posthorn).
"""

from __future__ import annotations

import os
import re
import signal
import socket
import ssl
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))

from smtpclient import SmtpConn  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
POSTHORN_BIN = Path(os.environ.get("POSTHORN_BIN", REPO / "build" / "posthorn"))

HOSTNAME = "mx.example.test"
DOMAIN = "example.test"
PASSWORD = "password"
DEFAULT_USERS = ("alice@example.test", "bob@example.test")
DEFAULT_ALIASES = """\
# aliases(5) style: name: target, target
postmaster: alice
team: alice, bob
"""

START_TIMEOUT = 20.0  # seconds to wait for the banner after start
DELIVERY_TIMEOUT = 10.0  # seconds to wait for asynchronous delivery
STOP_TIMEOUT = 10.0  # seconds between SIGTERM and SIGKILL


def free_port() -> int:
    """A port nobody listens on right now (the kernel picks it for port 0)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def toml_str(s: str | Path) -> str:
    """A TOML basic string."""
    s = str(s)
    return '"' + s.replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_value(v) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    return toml_str(v)


def require_binary() -> Path:
    if not POSTHORN_BIN.is_file() or not os.access(POSTHORN_BIN, os.X_OK):
        pytest.fail(f"posthorn binary not found at {POSTHORN_BIN} (build it: make build)",
                    pytrace=False)
    return POSTHORN_BIN


def run_cli(*args: str, config: Path | None = None, stdin: str | None = None,
            timeout: float = 60.0) -> subprocess.CompletedProcess:
    """Runs `posthorn ARGS [-c config]` and returns the completed process (text mode)."""
    cmd = [str(require_binary()), *args]
    if config is not None:
        cmd += ["-c", str(config)]
    return subprocess.run(cmd, input=stdin if stdin is not None else "", capture_output=True,
                          text=True, timeout=timeout)


# ---------------------------------------------------------------------------
# Password hashes for the users file, made once per test session.

_hash_cache: dict[str, str] = {}


def _hash_with_binary(tmp: Path, address: str, password: str) -> str:
    """Asks `posthorn user add` for the hash: the server's own command and format. A
    failing command fails the test (no stand-in hash that would hide it)."""
    cfg = tmp / "hash.toml"
    users = tmp / "users"
    if users.exists():
        users.unlink()
    cfg.write_text(
        f'hostname = "{HOSTNAME}"\nstate_dir = {toml_str(tmp / "state")}\n'
        f"[domains]\nlocal = [{toml_str(address.rsplit('@', 1)[1])}]\n"
        f"[accounts]\nusers_file = {toml_str(users)}\n"
        f"aliases_file = {toml_str(tmp / 'aliases')}\n"
    )
    (tmp / "aliases").write_text("")
    r = run_cli("user", "add", address, config=cfg, stdin=password + "\n")
    if r.returncode != 0 or not users.exists():
        pytest.fail(f"`posthorn user add {address}` failed (exit {r.returncode}): "
                    f"{r.stderr.strip()}", pytrace=False)
    for line in users.read_text().splitlines():
        if line.startswith(address + ":"):
            return line.split(":", 1)[1].strip()
    pytest.fail(f"`posthorn user add {address}` wrote no line for it to {users}:\n"
                f"{users.read_text()}", pytrace=False)


def password_hash(tmp_root: Path, address: str, password: str = PASSWORD) -> str:
    key = f"{address}\0{password}"
    if key not in _hash_cache:
        scratch = tmp_root / f"hash{len(_hash_cache)}"
        scratch.mkdir(parents=True, exist_ok=True)
        _hash_cache[key] = _hash_with_binary(scratch, address, password)
    return _hash_cache[key]


# ---------------------------------------------------------------------------
# The server under test.

class ServerDied(Exception):
    pass


@dataclass
class Server:
    """One posthorn instance with its own config, state and Maildirs under `root`."""

    root: Path
    hash_root: Path
    listeners: int = 1
    vrfy: bool | None = None
    expn: bool | None = None
    trusted_networks: list | None = None
    limits: dict = field(default_factory=dict)
    users: tuple = DEFAULT_USERS
    aliases: str = DEFAULT_ALIASES
    relocated: str | None = None
    local_domains: tuple = (DOMAIN,)
    relay_domains: tuple = ()  # [domains] relay: we are their backup MX (DESIGN.md §4.6)
    # Remote delivery (peers.py): None keeps outbound mail on a dead loopback port.
    smarthost: str | None = None
    outbound_port: int | None = None
    nameservers: list | None = None
    queue: dict = field(default_factory=dict)
    extra_toml: str = ""
    # Issue 3: `roles` names each listener's role ("mx", "submission", "submissions";
    # listeners beyond it are "mx"), `listen_options` adds keys to every [[listen]]
    # (allow_plaintext_auth), `sections` adds whole tables ({"tls": {...}, "auth": {...}})
    # `serve_args` extra arguments to `serve` ("--log-level", "trace") and `passwords`
    # a password per user other than PASSWORD.
    roles: tuple = ()
    listen_options: dict = field(default_factory=dict)
    sections: dict = field(default_factory=dict)
    serve_args: tuple = ()
    passwords: dict = field(default_factory=dict)
    # Extra environment for the server process (the fault shim's LD_PRELOAD, issue 13).
    env: dict = field(default_factory=dict)
    mailbox_options: dict = field(default_factory=dict)  # more [mailbox] keys (lmtp, ...)

    ports: list = field(default_factory=list)
    proc: subprocess.Popen | None = None
    starts: int = 0

    def __post_init__(self):
        self.root.mkdir(parents=True, exist_ok=True)
        self.config_path = self.root / "posthorn.toml"
        self.state_dir = self.root / "state"
        self.maildir_root = self.root / "mail"
        self.users_file = self.root / "users"
        self.aliases_file = self.root / "aliases"
        self.relocated_file = self.root / "relocated"
        self.log_path = self.root / "server.log"
        # Outbound mail must never leave the machine: relay and DNS point at loopback
        # ports where nobody listens.
        self.dead_port = free_port()

    # -- config ---------------------------------------------------------------
    @property
    def port(self) -> int:
        return self.ports[0]

    def role_of(self, i: int) -> str:
        return self.roles[i] if i < len(self.roles) else "mx"

    def port_for(self, role: str) -> int:
        """The port of the first listener with this role."""
        for i, p in enumerate(self.ports):
            if self.role_of(i) == role:
                return p
        raise AssertionError(f"no {role} listener in {self.roles}")

    def write_config(self):
        lines = [
            f"hostname = {toml_str(HOSTNAME)}",
            f"state_dir = {toml_str(self.state_dir)}",
            "",
        ]
        for i, p in enumerate(self.ports):
            lines += ["[[listen]]", f'address = "127.0.0.1:{p}"',
                      f"role = {toml_str(self.role_of(i))}"]
            lines += [f"{k} = {toml_value(v)}" for k, v in self.listen_options.items()]
            lines.append("")
        lines += [
            "[domains]",
            f"local = {toml_value(list(self.local_domains))}",
        ]
        if self.relay_domains:
            lines.append(f"relay = {toml_value(list(self.relay_domains))}")
        lines += [
            "",
            "[accounts]",
            f"users_file = {toml_str(self.users_file)}",
            f"aliases_file = {toml_str(self.aliases_file)}",
        ]
        if self.relocated is not None:
            lines.append(f"relocated_file = {toml_str(self.relocated_file)}")
        lines += [
            "",
            "[mailbox]",
            f"maildir_root = {toml_str(self.maildir_root)}",
            *[f"{k} = {toml_value(v)}" for k, v in self.mailbox_options.items()],
            "",
            "[relay]",
            "smarthost = " + toml_str(f"127.0.0.1:{self.dead_port}" if self.smarthost is None
                                      else self.smarthost),
            f"outbound_port = {self.outbound_port or self.dead_port}",
        ]
        if self.trusted_networks is not None:
            lines.append(f"trusted_networks = {toml_value(self.trusted_networks)}")
        nameservers = self.nameservers or [f"127.0.0.1:{self.dead_port}"]
        lines += ["", "[dns]", f"nameservers = {toml_value(nameservers)}", ""]
        if self.queue:
            lines.append("[queue]")
            lines += [f"{k} = {toml_value(v)}" for k, v in self.queue.items()]
            lines.append("")
        if self.limits:
            lines.append("[limits]")
            lines += [f"{k} = {toml_value(v)}" for k, v in self.limits.items()]
            lines.append("")
        if self.vrfy is not None or self.expn is not None:
            lines.append("[smtp]")
            if self.vrfy is not None:
                lines.append(f"vrfy = {toml_value(self.vrfy)}")
            if self.expn is not None:
                lines.append(f"expn = {toml_value(self.expn)}")
            lines.append("")
        for name, table in self.sections.items():
            lines.append(f"[{name}]")
            lines += [f"{k} = {toml_value(v)}" for k, v in table.items()]
            lines.append("")
        if self.extra_toml:
            lines.append(self.extra_toml)
        self.config_path.write_text("\n".join(lines) + "\n", encoding="utf-8")

        self.users_file.write_text(
            "".join(f"{u}:{password_hash(self.hash_root, u, self.passwords.get(u, PASSWORD))}\n"
                    for u in self.users),
            encoding="utf-8")
        self.aliases_file.write_text(self.aliases, encoding="utf-8")
        if self.relocated is not None:
            self.relocated_file.write_text(self.relocated, encoding="utf-8")

    # -- process --------------------------------------------------------------
    def start(self, fresh_ports: bool = True):
        """Writes the config (unless restarting) and starts the server; returns when
        every listener has sent its 220 banner."""
        require_binary()
        attempts = 3 if fresh_ports else 1
        for attempt in range(attempts):
            if fresh_ports:
                self.ports = [free_port() for _ in range(max(self.listeners, len(self.roles)))]
                self.write_config()
            try:
                self._spawn_and_wait()
                return self
            except ServerDied:
                # Another program may have taken a picked port in the meantime.
                if attempt + 1 == attempts or "in use" not in self.log_tail().lower():
                    pytest.fail(f"posthorn did not start (exit {self.proc.returncode}):\n"
                                f"{self.log_tail()}", pytrace=False)

    def restart(self):
        """Starts again on the same ports, config and state (after stop() or kill())."""
        self.start(fresh_ports=False)
        return self

    def _spawn_and_wait(self):
        self.starts += 1
        log = open(self.log_path, "ab")
        log.write(f"---- start {self.starts} ----\n".encode())
        log.flush()
        self.proc = subprocess.Popen(
            [str(POSTHORN_BIN), "serve", "-c", str(self.config_path), *self.serve_args],
            stdin=subprocess.DEVNULL, stdout=log, stderr=subprocess.STDOUT,
            cwd=self.root, env={**os.environ, **self.env} if self.env else None)
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        pending = list(self.ports)
        while pending:
            if self.proc.poll() is not None:
                raise ServerDied()
            if time.monotonic() > deadline:
                self.kill()
                pytest.fail(f"posthorn sent no 220 banner on port(s) {pending} within "
                            f"{START_TIMEOUT:.0f}s:\n{self.log_tail()}", pytrace=False)
            port = pending[0]
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
                    s.settimeout(5)
                    role = self.role_of(self.ports.index(port))
                    if role in ("submissions", "pop3s"):
                        s = client_tls_context().wrap_socket(s)  # RFC 8314: TLS first
                    banner = b""
                    while not banner.endswith(b"\r\n"):
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        banner += chunk
                    if banner.startswith(b"+OK" if role.startswith("pop3") else b"220"):
                        s.sendall(b"QUIT\r\n")
                        try:  # let the server close its side before tests count sessions
                            while s.recv(4096):
                                pass
                        except OSError:
                            pass
                        pending.pop(0)
                        continue
            except OSError:
                pass
            time.sleep(0.05)

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL if it does not exit in time; returns the exit status."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=STOP_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode

    def kill(self):
        """kill -9: no chance to clean up."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def log_tail(self, n: int = 60) -> str:
        try:
            lines = self.log_path.read_text(errors="replace").splitlines()
        except OSError:
            return "(no server log)"
        return "\n".join(lines[-n:])

    def log_text(self, since_start: bool = False) -> str:
        """The whole server log; with since_start only what the latest start wrote."""
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return ""
        if since_start:
            marker = f"---- start {self.starts} ----\n"
            text = text[text.rfind(marker) + len(marker):] if marker in text else ""
        return text

    def wait_log(self, pattern: str, timeout: float = 10.0,
                 since_start: bool = False) -> re.Match:
        """The first log line matching the regular expression, waiting (bounded) for it;
        since_start: only lines of the latest start (after a restart)."""
        rx = re.compile(pattern)
        deadline = time.monotonic() + timeout
        while True:
            text = self.log_text(since_start)
            for line in text.splitlines():
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() > deadline:
                raise AssertionError(f"no log line matches {pattern!r}:\n{self.log_tail()}")
            time.sleep(0.05)

    # -- clients --------------------------------------------------------------
    def connect(self, port: int | None = None, **kw) -> SmtpConn:
        return SmtpConn(port or self.port, **kw)

    def session(self, helo: str = "client.example.net", **kw) -> SmtpConn:
        """A connection that has read the banner and said EHLO."""
        c = self.connect(**kw)
        r = c.cmd(f"EHLO {helo}")
        assert r.code == 250, r
        return c

    def tls_session(self, port: int | None = None, helo: str = "client.example.net",
                    **kw) -> SmtpConn:
        """EHLO, STARTTLS, the handshake and EHLO again: a session inside TLS."""
        c = self.session(helo, port=port, **kw)
        r = c.cmd("STARTTLS")
        assert r.is_(220), r
        start_tls(c)
        r = c.cmd(f"EHLO {helo}")
        assert r.code == 250, r
        return c

    def connect_tls(self, port: int | None = None, **kw) -> SmtpConn:
        """Implicit TLS (RFC 8314): handshake first, then the banner read inside TLS."""
        c = SmtpConn(port or self.port_for("submissions"), read_banner=False, **kw)
        c.sock = client_tls_context().wrap_socket(c.sock)
        c.banner = c.read_reply()
        return c

    # -- Maildirs and spool ---------------------------------------------------
    def mailbox(self, address: str) -> Path:
        local, domain = address.rsplit("@", 1)
        return self.maildir_root / domain.lower() / local

    def mail(self, address: str) -> list[bytes]:
        """The files in the user's Maildir new/, oldest name first."""
        new = self.mailbox(address) / "new"
        if not new.is_dir():
            return []
        return [p.read_bytes() for p in sorted(new.iterdir()) if p.is_file()]

    def mail_files(self, address: str) -> list[Path]:
        new = self.mailbox(address) / "new"
        if not new.is_dir():
            return []
        return sorted(p for p in new.iterdir() if p.is_file())

    def spool_files(self) -> list[Path]:
        """Committed queue files (state_dir/spool/active)."""
        active = self.state_dir / "spool" / "active"
        if not active.is_dir():
            return []
        return sorted(p for p in active.iterdir() if p.is_file())

    def wait_for_mail(self, address: str, count: int = 1,
                      timeout: float = DELIVERY_TIMEOUT) -> list[bytes]:
        """Polls the user's new/ until it holds at least `count` files."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.mail(address)
            if len(msgs) >= count:
                return msgs
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"{address}: {len(msgs)} message(s) in {self.mailbox(address)}/new after "
                    f"{timeout:.0f}s, expected {count}\nspool: "
                    f"{[p.name for p in self.spool_files()]}\nserver log:\n{self.log_tail()}")
            time.sleep(0.05)

    def wait_spool_empty(self, timeout: float = DELIVERY_TIMEOUT):
        """Polls until no committed message is left in the spool (everything delivered)."""
        deadline = time.monotonic() + timeout
        while self.spool_files():
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"spool still holds {[p.name for p in self.spool_files()]} after "
                    f"{timeout:.0f}s\nserver log:\n{self.log_tail()}")
            time.sleep(0.05)


# ---------------------------------------------------------------------------
# TLS on the client side (issue 3). Servers' certificates are self-signed: not verified.

def client_tls_context() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


def start_tls(conn: SmtpConn) -> None:
    """After "220" to STARTTLS: the handshake on the connection's socket. Bytes the
    server sent in the clear after that 220 would be an error, so none may be buffered."""
    assert conn.buf == b"", f"plaintext after the 220 to STARTTLS: {conn.buf!r}"
    conn.sock = client_tls_context().wrap_socket(conn.sock)


SANITIZER_RE = re.compile(r"^(==\d+==ERROR: \w+Sanitizer|WARNING: ThreadSanitizer|"
                          r"SUMMARY: \w+Sanitizer|.*: runtime error: )", re.MULTILINE)


def sanitizer_report(log: str) -> str:
    """The first sanitizer report in a log and what follows it (a few dozen lines), or ""."""
    m = SANITIZER_RE.search(log)
    if not m:
        return ""
    return "\n".join(log[m.start():].splitlines()[:60])


@pytest.fixture
def make_server(tmp_path, tmp_path_factory):
    """Factory: make_server(vrfy=False, limits={...}, ...) -> a started Server."""
    hash_root = tmp_path_factory.getbasetemp() / "hashes"
    servers: list[Server] = []

    def factory(start: bool = True, **options) -> Server:
        srv = Server(root=tmp_path / f"srv{len(servers)}", hash_root=hash_root, **options)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    yield factory

    died = []
    for srv in servers:
        if srv.proc is not None and srv.proc.poll() is not None and \
                srv.proc.returncode not in (0, -signal.SIGKILL, -signal.SIGTERM) and \
                not getattr(srv, "expect_exit", False):
            died.append(srv)
        srv.stop()
    if died:
        srv = died[0]
        pytest.fail(f"posthorn exited on its own during the test (status "
                    f"{srv.proc.returncode}):\n{srv.log_tail()}", pytrace=False)
    # A sanitized binary (make test-asan) reports into the server's log, also at the exit
    # that stop() caused (LeakSanitizer): any report fails the test.
    for srv in servers:
        report = sanitizer_report(srv.log_text())
        if report:
            pytest.fail(f"sanitizer report in {srv.log_path}:\n{report}", pytrace=False)


@pytest.fixture
def server(make_server) -> Server:
    """A started server with the default config (alice, bob, postmaster, team)."""
    return make_server()


# ---------------------------------------------------------------------------
# Reading delivered messages.

QUEUE_ID_RE = re.compile(r"^250 2\.0\.0 Ok: queued as (\S+)")


def queue_id_of(reply_line: str) -> str:
    m = QUEUE_ID_RE.match(reply_line)
    assert m, f"250 reply does not name the queue id: {reply_line!r}"
    return m.group(1)


@dataclass
class Delivered:
    """A Maildir file split into the headers delivery added and the message."""

    return_path: str
    delivered_to: str
    received: str  # our Received: header, unfolded
    message: bytes  # everything after our Received:, as received (LF line ends)
    raw: bytes


def parse_delivered(raw: bytes) -> Delivered:
    assert b"\r" not in raw, "a Maildir file holds LF line ends only"
    lines = raw.split(b"\n")
    assert lines[0].startswith(b"Return-Path: "), f"first line is not Return-Path: {lines[0]!r}"
    assert lines[1].startswith(b"Delivered-To: "), f"second line is not Delivered-To: {lines[1]!r}"
    assert lines[2].startswith(b"Received: "), f"third line is not our Received: {lines[2]!r}"
    i = 3
    received = [lines[2]]
    while i < len(lines) and lines[i][:1] in (b" ", b"\t"):
        received.append(lines[i])
        i += 1
    return Delivered(
        return_path=lines[0][len(b"Return-Path: "):].decode("utf-8"),
        delivered_to=lines[1][len(b"Delivered-To: "):].decode("utf-8"),
        received=b" ".join(x.strip() for x in received).decode("utf-8", "replace"),
        message=b"\n".join(lines[i:]),
        raw=raw,
    )


def to_lf(msg: bytes) -> bytes:
    return msg.replace(b"\r\n", b"\n")


def assert_delivered(raw: bytes, *, sender: str, rcpt: str, queue_id: str, message_crlf: bytes,
                     protocol: str = "ESMTP", delivered_to: str | None = None) -> Delivered:
    """Checks a Maildir file against DESIGN.md §4.2: Return-Path, Delivered-To, our
    Received: naming hostname, protocol, queue id and recipient, then the message
    exactly as sent with LF line ends."""
    d = parse_delivered(raw)
    assert d.return_path == f"<{sender}>"
    assert d.delivered_to == (delivered_to or rcpt)
    assert re.search(rf"\bby {re.escape(HOSTNAME)}\b", d.received), d.received
    assert re.search(rf"\bwith {protocol}\b", d.received), d.received
    assert re.search(rf"\bid {re.escape(queue_id)}\b", d.received), d.received
    assert f"for <{rcpt}>" in d.received, d.received
    assert d.message == to_lf(message_crlf)
    return d
