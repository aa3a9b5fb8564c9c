#!/usr/bin/python3
"""Soak (issue 13): posthorn under 30 minutes of mixed load, its resources sampled.

The load, all on loopback, throttled to a steady rate (--rate messages/s in total):
  * local delivery: messages to local users and to an alias that fans out to three;
  * relay: messages to remote recipients, relayed to a recording peer (smarthost);
  * bounces: remote recipients the peer refuses (550), so reports go back to a local
    sender, and a few refused with 451 that stay queued for retries;
  * TLS: part of the sessions use STARTTLS;
  * AUTH failures: sessions on the submission listener that try a wrong password;
  * slow clients: sessions that dribble their commands with pauses, and idle ones
    that connect, say EHLO and wait.
Every 10 s (--interval) it samples posthorn's resident memory (VmRSS), its open file
descriptors and the queue size (files in spool/active), and at the end prints the table
and writes an SVG plot (--svg). Growth that does not level off is a leak: the summary
compares the last third of the run with the middle third.

Usage: bench/soak/soak.py [--bin build/posthorn] [--minutes 30] [--svg soak.svg]
"""

from __future__ import annotations

import argparse
import base64
import collections
import json
import os
import random
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "tests" / "integration"))
sys.path.insert(0, str(REPO / "tests" / "torture"))

from smtpclient import ConnectionClosed, SmtpConn  # noqa: E402
from torture import RecordingPeer, free_port  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402

DOMAIN = "example.test"
USERS = [f"u{i}" for i in range(8)]


class RefusingPeer:
    """A peer that refuses some recipients: 550 for bounce@, 451 for later@."""

    def __init__(self, port: int):
        self.got = collections.Counter()

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, options):
                local = address.split("@")[0].lower()
                if local.startswith("bounce"):
                    return "550 5.1.1 <%s>: User unknown" % address
                if local.startswith("later"):
                    return "451 4.3.0 Try again later"
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 Ok"

            async def handle_DATA(inner, server, session, envelope):
                self.got["messages"] += 1
                return "250 2.0.0 Ok"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=port,
                                     decode_data=False, ready_timeout=10)


def client_tls() -> ssl.SSLContext:
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    return ctx


class Soak:
    def __init__(self, binary: Path, root: Path, rate: float):
        self.binary = binary
        self.root = root
        self.rate = rate
        self.mx = free_port()
        self.sub = free_port()
        self.peer_port = free_port()
        self.dead = free_port()
        self.state = root / "state"
        self.stats = collections.Counter()
        self.lock = threading.Lock()
        self.stop = threading.Event()
        (root / "users").write_text("".join(f"{u}@{DOMAIN}:!locked\n" for u in USERS))
        (root / "aliases").write_text("fan: u1, u2, u3\n")
        self.config = root / "posthorn.toml"
        self.config.write_text(f"""hostname = "mx.{DOMAIN}"
state_dir = "{self.state}"

[[listen]]
address = "127.0.0.1:{self.mx}"
role = "mx"

[[listen]]
address = "127.0.0.1:{self.sub}"
role = "submission"

[tls]
cert = "{self.state}/tls/cert.pem"
key = "{self.state}/tls/key.pem"
self_signed = true

[domains]
local = ["{DOMAIN}"]

[accounts]
users_file = "{root / 'users'}"
aliases_file = "{root / 'aliases'}"

[mailbox]
maildir_root = "{root / 'mail'}"

[relay]
smarthost = "127.0.0.1:{self.peer_port}"
outbound_port = {self.dead}

[dns]
nameservers = ["127.0.0.1:{self.dead}"]

[queue]
retry = ["30s", "1m"]
delay_warning = "0s"
max_lifetime = "10m"

[limits]
min_free_space = "0"
connections_per_ip = 10000
errors = 1000
""")

    def count(self, key: str, n: int = 1):
        with self.lock:
            self.stats[key] += n

    # -- the load --------------------------------------------------------------------
    def message(self, rng, to: str) -> bytes:
        body = "".join("soak line %d %s\r\n" % (i, "z" * rng.randrange(20, 70))
                       for i in range(rng.randrange(3, 60)))
        return (f"From: <u0@{DOMAIN}>\r\nTo: <{to}>\r\nSubject: soak\r\n"
                f"Message-ID: <{rng.getrandbits(64):x}@soak.example.net>\r\n\r\n{body}").encode()

    def one_session(self, rng):
        kind = rng.random()
        if kind < 0.07:
            return self.auth_failure(rng)
        if kind < 0.12:
            return self.slow_client(rng)
        c = SmtpConn(self.mx, timeout=60)
        try:
            c.cmd("EHLO soak.example.net")
            if rng.random() < 0.25:
                if c.cmd("STARTTLS").code != 220:
                    self.count("starttls-refused")
                    return
                c.sock = client_tls().wrap_socket(c.sock)
                c.cmd("EHLO soak.example.net")
                self.count("tls-sessions")
            for _ in range(rng.choice([1, 1, 2, 4])):
                r = rng.random()
                if r < 0.45:
                    to = [f"{rng.choice(USERS)}@{DOMAIN}"]
                elif r < 0.6:
                    to = [f"fan@{DOMAIN}"]
                elif r < 0.85:
                    to = [f"user{rng.randrange(100)}@remote.test"]
                elif r < 0.97:
                    to = [f"bounce{rng.randrange(100)}@remote.test"]
                else:
                    to = [f"later{rng.randrange(100)}@remote.test"]
                sender = f"u0@{DOMAIN}"
                if c.cmd(f"MAIL FROM:<{sender}>").code != 250:
                    self.count("mail-refused")
                    break
                if c.cmd(f"RCPT TO:<{to[0]}>").code != 250:
                    c.cmd("RSET")
                    continue
                r = c.data(self.message(rng, to[0]))
                self.count("accepted" if r.code == 250 else f"data-{r.code}")
                self.pace()
            c.cmd("QUIT")
        finally:
            c.close()

    def auth_failure(self, rng):
        c = SmtpConn(self.sub, timeout=60)
        try:
            c.cmd("EHLO soak.example.net")
            if c.cmd("STARTTLS").code != 220:
                return
            c.sock = client_tls().wrap_socket(c.sock)
            c.cmd("EHLO soak.example.net")
            token = base64.b64encode(f"\0u1@{DOMAIN}\0wrong{rng.randrange(1000)}".encode())
            r = c.cmd(b"AUTH PLAIN " + token)
            self.count(f"auth-{r.code}")
            c.cmd("QUIT")
        finally:
            c.close()

    def slow_client(self, rng):
        c = SmtpConn(self.mx, timeout=120)
        try:
            if rng.random() < 0.5:
                c.cmd("EHLO idle.example.net")  # then says nothing for a while
                self.stop.wait(rng.uniform(5, 20))
                self.count("idle-sessions")
            else:
                for line in ("EHLO slow.example.net", f"MAIL FROM:<u0@{DOMAIN}>",
                             f"RCPT TO:<u2@{DOMAIN}>"):
                    self.stop.wait(rng.uniform(0.5, 3))
                    c.cmd(line)
                c.cmd("DATA")
                for chunk in (b"Subject: slow\r\n", b"\r\n", b"dribbled body\r\n"):
                    self.stop.wait(rng.uniform(0.5, 3))
                    c.send(chunk)
                c.send(b".\r\n")
                r = c.read_reply()
                self.count("accepted" if r.code == 250 else f"data-{r.code}")
                self.count("slow-sessions")
            c.cmd("QUIT")
        finally:
            c.close()

    def pace(self):
        # Each of the n workers sends about rate/n messages per second.
        self.stop.wait(self.workers / self.rate)

    def worker(self, seed: int):
        rng = random.Random(seed)
        while not self.stop.is_set():
            try:
                self.one_session(rng)
            except (ConnectionClosed, OSError, ssl.SSLError, AssertionError) as e:
                self.count(f"error-{type(e).__name__}")
                self.stop.wait(0.2)

    # -- sampling ----------------------------------------------------------------------
    def sample(self, pid: int) -> dict:
        rss = 0
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith("VmRSS:"):
                    rss = int(line.split()[1])
        fds = len(os.listdir(f"/proc/{pid}/fd"))
        active = self.state / "spool" / "active"
        queue = sum(1 for _ in active.iterdir()) if active.is_dir() else 0
        with self.lock:
            accepted = self.stats["accepted"]
        return {"rss_kb": rss, "fds": fds, "queue": queue, "accepted": accepted,
                "load": os.getloadavg()[0]}

    def run(self, minutes: float, interval: float, workers: int):
        self.workers = workers
        peer = RefusingPeer(self.peer_port)
        peer.controller.start()
        log = open(self.root / "server.log", "wb")
        proc = subprocess.Popen([str(self.binary), "serve", "-c", str(self.config),
                                 "--log-level", "warn"], stdout=log, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, cwd=self.root)
        deadline = time.monotonic() + 60
        while True:
            try:
                with socket.create_connection(("127.0.0.1", self.mx), timeout=5) as s:
                    if s.recv(100).startswith(b"220"):
                        break
            except OSError:
                pass
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("posthorn did not start; see " + str(self.root / "server.log"))
            time.sleep(0.1)
        threads = [threading.Thread(target=self.worker, args=(i,), daemon=True)
                   for i in range(workers)]
        for t in threads:
            t.start()
        samples = []
        t0 = time.monotonic()
        end = t0 + minutes * 60
        try:
            while True:
                s = self.sample(proc.pid)
                s["t"] = round(time.monotonic() - t0)
                samples.append(s)
                print(f"{s['t']:6d}s rss {s['rss_kb']:7d} kB  fds {s['fds']:5d}  queue "
                      f"{s['queue']:5d}  accepted {s['accepted']:7d}  load {s['load']:.1f}",
                      flush=True)
                if proc.poll() is not None:
                    raise RuntimeError(f"posthorn exited ({proc.returncode})")
                if time.monotonic() >= end:
                    break
                time.sleep(max(0.0, min(interval, end - time.monotonic())))
        finally:
            self.stop.set()
            for t in threads:
                t.join(timeout=30)
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
            peer.controller.stop()
        return samples, dict(self.stats), peer.got["messages"]


def trend(samples: list, key: str) -> tuple[float, float]:
    """Mean of the middle third and of the last third."""
    n = len(samples)
    mid = [s[key] for s in samples[n // 3: 2 * n // 3]] or [0]
    last = [s[key] for s in samples[2 * n // 3:]] or [0]
    return sum(mid) / len(mid), sum(last) / len(last)


def svg(samples: list, path: Path):
    """Three stacked line charts (RSS, fds, queue) over time: a plain SVG, no library."""
    w, h, pad = 720, 160, 40
    keys = [("rss_kb", "RSS (kB)"), ("fds", "open fds"), ("queue", "queue (messages)")]
    out = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h * 3 + 20}" '
           'font-family="sans-serif" font-size="11">']
    tmax = max(s["t"] for s in samples) or 1
    for i, (key, label) in enumerate(keys):
        y0 = i * h + 10
        vmax = max(s[key] for s in samples) or 1
        pts = " ".join(f"{pad + (w - 2 * pad) * s['t'] / tmax:.1f},"
                       f"{y0 + h - 30 - (h - 50) * s[key] / vmax:.1f}" for s in samples)
        out.append(f'<text x="{pad}" y="{y0 + 10}">{label}: max {vmax}</text>')
        out.append(f'<line x1="{pad}" y1="{y0 + h - 30}" x2="{w - pad}" y2="{y0 + h - 30}" '
                   'stroke="#999"/>')
        out.append(f'<polyline fill="none" stroke="#1f5fa8" stroke-width="1.5" points="{pts}"/>')
        out.append(f'<text x="{w - pad}" y="{y0 + h - 16}" text-anchor="end">{tmax} s</text>')
    out.append("</svg>")
    path.write_text("\n".join(out) + "\n")


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=REPO / "build" / "posthorn")
    ap.add_argument("--minutes", type=float, default=30)
    ap.add_argument("--interval", type=float, default=10)
    ap.add_argument("--rate", type=float, default=20, help="messages per second in total")
    ap.add_argument("--workers", type=int, default=6)
    ap.add_argument("--svg", type=Path, default=Path("soak.svg"))
    ap.add_argument("--json", type=Path)
    ap.add_argument("--workdir", type=Path)
    a = ap.parse_args()
    root = a.workdir or Path(tempfile.mkdtemp(prefix="posthorn-soak-"))
    root.mkdir(parents=True, exist_ok=True)
    soak = Soak(a.bin.resolve(), root, a.rate)
    samples, stats, relayed = soak.run(a.minutes, a.interval, a.workers)
    print("\n| t (s) | RSS (kB) | open fds | queue | accepted | load |")
    print("|---:|---:|---:|---:|---:|---:|")
    for s in samples:
        print(f"| {s['t']} | {s['rss_kb']} | {s['fds']} | {s['queue']} | {s['accepted']} | "
              f"{s['load']:.1f} |")
    print("\nsessions and replies: " + json.dumps(stats, sort_keys=True))
    print(f"relayed to the peer: {relayed}")
    verdict = 0
    for key in ("rss_kb", "fds", "queue"):
        mid, last = trend(samples, key)
        grows = last > mid * 1.10 + (1024 if key == "rss_kb" else 5)
        print(f"{key}: middle third {mid:.0f}, last third {last:.0f}"
              + ("  <- still growing" if grows else "  (level)"))
        verdict |= grows
    svg(samples, a.svg)
    print(f"plot: {a.svg}")
    if a.json:
        a.json.write_text(json.dumps({"samples": samples, "stats": stats,
                                      "relayed": relayed}, indent=1) + "\n")
    return 1 if verdict else 0


if __name__ == "__main__":
    sys.exit(main())
