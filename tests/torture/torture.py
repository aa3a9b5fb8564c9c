#!/usr/bin/python3
"""Crash torture (issue 13): posthorn under sustained load, killed at random moments.

Several clients send mail without pause (one and several messages per connection) to
local users, to an alias that fans out to three users, and to remote recipients relayed
to a recording peer (aiosmtpd on loopback). A killer SIGKILLs the server at random
moments (SIGTERM now and then), and restarts it each time. At the end the server runs
undisturbed until the queue is empty, and every message that got a 250 is looked for in
the Maildirs and in the peer's record, by the unique X-Torture-Id header it carries:

    lost        acknowledged, but missing for some recipient: must be 0
    duplicates  a recipient got it more than once (allowed after a crash, counted)
    unknown     the connection died between the end of DATA and the reply: either way is fine
    tmp files   left in a Maildir's tmp/;  spool files left in incoming/ and active/
    corrupt     queue files recovery set aside in spool/corrupt; truncated Maildir files

Usage:  tests/torture/torture.py [--bin build/posthorn] [--kills 500] [--clients 4]
Exit status 0 when nothing was lost and nothing is corrupt, 1 otherwise. Only loopback
addresses and free ports are used.
"""

from __future__ import annotations

import argparse
import collections
import json
import os
import random
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))

from smtpclient import ConnectionClosed, SmtpConn, data_payload  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402

DOMAIN = "example.test"
USERS = [f"u{i}" for i in range(8)]
FANOUT = ["u1", "u2", "u3"]  # alias fan@example.test
REMOTE = [f"r{i}@remote.test" for i in range(3)]
START_TIMEOUT = 60.0  # a loaded 2-core machine can be slow to recover a big spool
DRAIN_TIMEOUT = 300.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def torture_id(data: bytes) -> str | None:
    head = data.split(b"\r\n\r\n", 1)[0].split(b"\n\n", 1)[0]
    for line in head.splitlines():
        if line.lower().startswith(b"x-torture-id:"):
            return line.split(b":", 1)[1].strip().decode()
    return None


class RecordingPeer:
    """The relay target: counts (torture id, recipient) pairs; keeps no message bodies,
    so a long run stays small. Survives the server's restarts."""

    def __init__(self, port: int):
        self.port = port
        self.lock = threading.Lock()
        self.got: collections.Counter = collections.Counter()
        self.bad = 0  # messages whose end marker was missing (truncated in transit)
        peer = self

        class Handler:
            async def handle_DATA(self, server, session, envelope):
                data = envelope.content
                tid = torture_id(data)
                with peer.lock:
                    if tid is None or f"END {tid}".encode() not in data:
                        peer.bad += 1
                    for rcpt in envelope.rcpt_tos:
                        peer.got[(tid, rcpt.lower())] += 1
                return "250 2.0.0 Ok"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                                     decode_data=False, ready_timeout=10)

    def start(self):
        self.controller.start()

    def stop(self):
        self.controller.stop()

    def total(self) -> int:
        with self.lock:
            return sum(self.got.values())


@dataclass
class Ledger:
    """What the clients were told."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    acked: dict = field(default_factory=dict)  # torture id -> expected final recipients
    unknown: set = field(default_factory=set)  # end of DATA sent, no reply read
    refused: collections.Counter = field(default_factory=collections.Counter)  # reply -> n
    connections: int = 0
    connect_failures: int = 0


class Server:
    def __init__(self, binary: Path, root: Path, log_level: str, extra_env: dict | None = None):
        self.binary = binary
        self.root = root
        self.port = free_port()
        self.peer_port = free_port()
        self.dead_port = free_port()
        self.state = root / "state"
        self.mail = root / "mail"
        self.log = root / "server.log"
        self.log_level = log_level
        self.env = {**os.environ, **(extra_env or {})}
        self.proc: subprocess.Popen | None = None
        self.starts = 0
        cfg = root / "posthorn.toml"
        cfg.write_text(f"""hostname = "mx.{DOMAIN}"
state_dir = "{self.state}"

[[listen]]
address = "127.0.0.1:{self.port}"
role = "mx"

[domains]
local = ["{DOMAIN}"]

[accounts]
users_file = "{root / 'users'}"
aliases_file = "{root / 'aliases'}"

[mailbox]
maildir_root = "{self.mail}"

[relay]
smarthost = "127.0.0.1:{self.peer_port}"
outbound_port = {self.dead_port}

[dns]
nameservers = ["127.0.0.1:{self.dead_port}"]

[queue]
retry = ["1s", "2s"]
delay_warning = "0s"
max_lifetime = "1d"

[limits]
min_free_space = "0"
connections_per_ip = 1000
# A SIGTERM lets sessions finish for this long, then the server exits within 5 s more.
shutdown_timeout = "5s"
""")
        # No AUTH in this run: a hash nobody can match is enough.
        (root / "users").write_text("".join(f"{u}@{DOMAIN}:!locked\n" for u in USERS))
        (root / "aliases").write_text(f"fan: {', '.join(FANOUT)}\n")
        self.config = cfg

    def start(self):
        self.starts += 1
        with open(self.log, "ab") as log:
            log.write(f"---- start {self.starts} ----\n".encode())
            log.flush()
            self.proc = subprocess.Popen(
                [str(self.binary), "serve", "-c", str(self.config), "--log-level",
                 self.log_level], stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, cwd=self.root, env=self.env)
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"posthorn exited at start ({self.proc.returncode}):\n"
                                   f"{self.tail()}")
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=5) as s:
                    if s.recv(512).startswith(b"220"):
                        s.sendall(b"QUIT\r\n")
                        return
            except OSError:
                pass
            time.sleep(0.02)
        raise RuntimeError(f"posthorn gave no banner within {START_TIMEOUT:.0f}s:\n{self.tail()}")

    def kill(self, sig=signal.SIGKILL):
        self.proc.send_signal(sig)
        # SIGTERM: the grace time (shutdown_timeout, 5 s) and its 5 s margin, with room for
        # a loaded machine; SIGKILL is immediate.
        try:
            self.proc.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise RuntimeError(f"posthorn did not stop within 60 s of {sig!r}:\n{self.tail()}")

    def died(self) -> bool:
        return self.proc is not None and self.proc.poll() is not None

    def tail(self, n: int = 40) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-n:])
        except OSError:
            return "(no log)"

    def spool_files(self, sub: str) -> list[str]:
        d = self.state / "spool" / sub
        return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def pick_recipients(rng: random.Random) -> tuple[list[str], list[str]]:
    """RCPT TO addresses and the final recipients they mean (Maildir users and relayed)."""
    rcpts, final = [], []
    for _ in range(rng.choice([1, 1, 1, 2, 3])):
        kind = rng.random()
        if kind < 0.45:
            u = rng.choice(USERS)
            addr, means = f"{u}@{DOMAIN}", [f"{u}@{DOMAIN}"]
        elif kind < 0.75:
            addr, means = f"fan@{DOMAIN}", [f"{u}@{DOMAIN}" for u in FANOUT]
        else:
            addr = rng.choice(REMOTE)
            means = [addr]
        if addr in rcpts:
            continue
        rcpts.append(addr)
        final += [m for m in means if m not in final]
    return rcpts, final


def client(n: int, srv: Server, ledger: Ledger, stop: threading.Event, seed: int):
    rng = random.Random(seed)
    seq = 0
    while not stop.is_set():
        try:
            c = SmtpConn(srv.port, timeout=30)
        except (OSError, ConnectionClosed):  # down, or killed right after accepting
            with ledger.lock:
                ledger.connect_failures += 1
            time.sleep(0.01)
            continue
        with ledger.lock:
            ledger.connections += 1
        in_flight = None
        try:
            if c.banner.code != 220 or c.cmd(f"EHLO client{n}.example.net").code != 250:
                continue
            for _ in range(rng.choice([1, 1, 2, 5, 10])):
                if stop.is_set():
                    break
                seq += 1
                tid = f"{seed}-{n}-{seq}"
                rcpts, final = pick_recipients(rng)
                if c.cmd("MAIL FROM:<load@client.example.net>").code != 250:
                    break
                if not all(c.cmd(f"RCPT TO:<{r}>").code == 250 for r in rcpts):
                    c.cmd("RSET")
                    continue
                if c.cmd("DATA").code != 354:
                    break
                body = "".join(f"line {i} of {tid} " + "x" * rng.randrange(10, 70) + "\r\n"
                               for i in range(rng.randrange(1, 40)))
                msg = (f"From: <load@client.example.net>\r\nTo: <{rcpts[0]}>\r\n"
                       f"Subject: torture {tid}\r\nMessage-ID: <{tid}@client.example.net>\r\n"
                       f"X-Torture-Id: {tid}\r\n\r\n{body}END {tid}\r\n").encode()
                in_flight = tid
                c.send(data_payload(msg))
                r = c.read_reply()
                in_flight = None
                with ledger.lock:
                    if r.code == 250:
                        ledger.acked[tid] = final
                    else:
                        ledger.refused[r.line()[:40]] += 1
            try:
                c.cmd("QUIT")
            except (ConnectionClosed, OSError):
                pass
        except (ConnectionClosed, OSError, AssertionError):
            pass
        finally:
            if in_flight is not None:
                with ledger.lock:
                    ledger.unknown.add(in_flight)
            c.close()


def scan_maildirs(root: Path):
    """(Counter of (torture id, address) -> files, truncated files, files left in tmp/)."""
    got: collections.Counter = collections.Counter()
    truncated = tmp_left = 0
    if not root.is_dir():
        return got, truncated, tmp_left
    for domain in root.iterdir():
        for box in domain.iterdir():
            address = f"{box.name}@{domain.name}"
            for sub in ("new", "cur"):
                d = box / sub
                if not d.is_dir():
                    continue
                for f in d.iterdir():
                    data = f.read_bytes()
                    tid = torture_id(data)
                    if tid is None or f"END {tid}".encode() not in data:
                        truncated += 1
                    got[(tid, address)] += 1
            if (box / "tmp").is_dir():
                tmp_left += sum(1 for _ in (box / "tmp").iterdir())
    return got, truncated, tmp_left


def run(binary: Path, kills: int, clients: int = 4, seed: int | None = None,
        workdir: Path | None = None, term_every: int = 10, max_uptime: float = 1.0,
        log_level: str = "warn", out=sys.stdout) -> dict:
    seed = random.randrange(1 << 30) if seed is None else seed
    rng = random.Random(seed)
    root = Path(workdir or tempfile.mkdtemp(prefix="posthorn-torture-"))
    root.mkdir(parents=True, exist_ok=True)
    srv = Server(binary, root, log_level)
    peer = RecordingPeer(srv.peer_port)
    peer.start()
    ledger = Ledger()
    stop = threading.Event()
    t0 = time.monotonic()
    print(f"torture: seed {seed}, {kills} kills, {clients} clients, in {root}", file=out)
    srv.start()
    threads = [threading.Thread(target=client, args=(i, srv, ledger, stop, seed * 100 + i),
                                daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    sigkills = sigterms = 0
    try:
        for k in range(kills):
            time.sleep(rng.uniform(0.02, max_uptime))
            if srv.died():
                raise RuntimeError(f"posthorn exited on its own ({srv.proc.returncode}):\n"
                                   f"{srv.tail()}")
            if term_every and rng.randrange(term_every) == 0:
                srv.kill(signal.SIGTERM)
                sigterms += 1
            else:
                srv.kill(signal.SIGKILL)
                sigkills += 1
            srv.start()
            if (k + 1) % 50 == 0:
                with ledger.lock:
                    n = len(ledger.acked)
                print(f"torture: {k + 1} kills, {n} acknowledged", file=out, flush=True)
    finally:
        stop.set()
        for t in threads:
            t.join(timeout=60)
    load_seconds = time.monotonic() - t0
    # Drain: undisturbed until the queue is empty and the peer has stopped receiving.
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while srv.spool_files("active") and time.monotonic() < deadline:
        if srv.died():
            raise RuntimeError(f"posthorn exited while draining:\n{srv.tail()}")
        time.sleep(0.2)
    srv.kill(signal.SIGTERM)
    peer.stop()

    got, truncated, tmp_left = scan_maildirs(srv.mail)
    lost, duplicates, deliveries = [], 0, 0
    for tid, final in ledger.acked.items():
        for addr in final:
            n = peer.got[(tid, addr)] if addr.endswith("@remote.test") else got[(tid, addr)]
            deliveries += 1
            if n == 0:
                lost.append((tid, addr))
            elif n > 1:
                duplicates += n - 1
    acked_ids = set(ledger.acked)
    delivered_ids = {tid for tid, _ in got} | {tid for tid, _ in peer.got}
    never_acked = delivered_ids - acked_ids - ledger.unknown - {None}
    corrupt = len(srv.spool_files("corrupt"))
    result = {
        "seed": seed,
        "kills": sigkills,
        "terms": sigterms,
        "clients": clients,
        "load_seconds": round(load_seconds, 1),
        "connections": ledger.connections,
        "acknowledged": len(ledger.acked),
        "deliveries_expected": deliveries,
        "lost": len(lost),
        "duplicates": duplicates,
        "unknown": len(ledger.unknown),
        "delivered_never_acknowledged": len(never_acked),
        "refused": dict(ledger.refused),
        "maildir_tmp_left": tmp_left,
        "maildir_truncated": truncated,
        "peer_truncated": peer.bad,
        "spool_incoming_left": len(srv.spool_files("incoming")),
        "spool_active_left": len(srv.spool_files("active")),
        "spool_corrupt": corrupt,
        "workdir": str(root),
    }
    print(json.dumps(result, indent=2), file=out)
    if lost:
        print("lost (first 20): " + ", ".join(f"{t} -> {a}" for t, a in lost[:20]), file=out)
    result["ok"] = (not lost and corrupt == 0 and truncated == 0 and peer.bad == 0
                    and result["spool_active_left"] == 0)
    return result


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=REPO / "build" / "posthorn")
    ap.add_argument("--kills", type=int, default=500)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--seed", type=int)
    ap.add_argument("--workdir", type=Path, help="kept after the run (default: a temp dir, "
                    "removed when the run passes)")
    ap.add_argument("--max-uptime", type=float, default=1.0,
                    help="seconds: each kill comes 0.02 s to this long after the restart")
    ap.add_argument("--log-level", default="warn")
    ap.add_argument("--json", type=Path, help="also write the result here")
    a = ap.parse_args()
    res = run(a.bin.resolve(), a.kills, a.clients, a.seed, a.workdir, max_uptime=a.max_uptime,
              log_level=a.log_level)
    if a.json:
        a.json.write_text(json.dumps(res, indent=2) + "\n")
    if res["ok"] and a.workdir is None:
        shutil.rmtree(res["workdir"], ignore_errors=True)
    print("torture: " + ("PASS" if res["ok"] else "FAIL"))
    return 0 if res["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
