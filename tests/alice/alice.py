#!/usr/bin/python3
"""Power cuts (issue 13), after ALICE (Pillai et al., "All File Systems Are Not Created
Equal", OSDI 2014).

A SIGKILL leaves the page cache intact, so no kill test can show a missing fsync. This
tool records the file-system system calls of one message's whole life with strace
(accept, commit, local delivery with alias fan-out, relay to a peer, a bounce and its
delivery), then builds the on-disk states a power cut could leave under POSIX's weak
guarantees, runs posthorn's recovery on each (a fresh server on a copy of the state,
left to recover and deliver) and checks the invariant of DESIGN.md §4.1.

The persistence model. Data writes to a file become durable at the next fsync or
fdatasync of that file; directory operations (create, rename, link, unlink, mkdir) at
the next fsync of the directory they change (a rename: of its destination's); syncfs
makes everything before it durable. At each crash point (after every sync, after every
"250 ... queued as" the client was sent, and at the end) the states tried are:
  prefix        every operation up to the point, in order (what a kill leaves)
  durable       only what was made durable (every other write and entry lost)
  drop-one      all but one non-durable operation (each in turn)        [--full]
  only-one      the durable ones plus a single later one (a reordering) [--full]
  torn          the prefix with the last non-durable write cut in half  [--full]
The invariant: once the client had its 250, recovery must deliver the message to every
recipient (alice and bob through the alias, the relay peer unless it had it already) and
alice must get the bounce for the recipient the peer refused; whatever the state, the
server must start, and its queue must settle.

Usage: tests/alice/alice.py [--bin build/posthorn] [--full] [--keep DIR]
Exit status 0 when every state keeps the invariant.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
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

from smtpclient import SmtpConn  # noqa: E402

from aiosmtpd.controller import Controller  # noqa: E402

DOMAIN = "example.test"
SUBJECT = "power cut life"
TRACED = ("open,openat,creat,write,pwrite64,writev,pwritev,fsync,fdatasync,syncfs,sync,"
          "rename,renameat,renameat2,link,linkat,unlink,unlinkat,mkdir,mkdirat,close,"
          "ftruncate,sendmsg,sendto")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


# ---------------------------------------------------------------------------
# The world: a peer that refuses nobody@ and records the rest, and a config.

class Peer:
    def __init__(self):
        self.port = free_port()
        self.lock = threading.Lock()
        self.received: list[float] = []  # wall-clock times of accepted messages
        peer = self

        class Handler:
            async def handle_RCPT(self, server, session, envelope, address, options):
                if address.lower().startswith("nobody@"):
                    return "550 5.1.1 <%s>: User unknown" % address
                envelope.rcpt_tos.append(address)
                return "250 2.1.5 Ok"

            async def handle_DATA(self, server, session, envelope):
                with peer.lock:
                    peer.received.append(time.time())
                return "250 2.0.0 Ok"

        self.controller = Controller(Handler(), hostname="127.0.0.1", port=self.port,
                                     decode_data=False, ready_timeout=10)
        self.controller.start()

    def count(self) -> int:
        with self.lock:
            return len(self.received)

    def stop(self):
        self.controller.stop()


def write_config(root: Path, port: int, peer_port: int) -> Path:
    dead = free_port()
    (root / "users").write_text(f"alice@{DOMAIN}:!x\nbob@{DOMAIN}:!x\n")
    (root / "aliases").write_text("team: alice, bob\n")
    cfg = root / "posthorn.toml"
    cfg.write_text(f"""hostname = "mx.{DOMAIN}"
state_dir = "{root / 'state'}"
[[listen]]
address = "127.0.0.1:{port}"
role = "mx"
[domains]
local = ["{DOMAIN}"]
[accounts]
users_file = "{root / 'users'}"
aliases_file = "{root / 'aliases'}"
[mailbox]
maildir_root = "{root / 'mail'}"
[relay]
smarthost = "127.0.0.1:{peer_port}"
outbound_port = {dead}
[dns]
nameservers = ["127.0.0.1:{dead}"]
[queue]
retry = ["1s"]
delay_warning = "0s"
max_lifetime = "1d"
[limits]
min_free_space = "0"
""")
    return cfg


def wait_banner(port: int, proc: subprocess.Popen, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"posthorn exited at start ({proc.returncode})")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
                if s.recv(200).startswith(b"220"):
                    s.sendall(b"QUIT\r\n")
                    return
        except OSError:
            pass
        time.sleep(0.02)
    raise RuntimeError("posthorn gave no banner")


def mail_count(root: Path, user: str, bounce: bool) -> int:
    n = 0
    for sub in ("new", "cur"):
        d = root / "mail" / DOMAIN / user / sub
        if d.is_dir():
            for f in d.iterdir():
                head = f.read_bytes().split(b"\n\n", 1)[0]
                is_bounce = head.startswith(b"Return-Path: <>")
                if is_bounce == bounce and (bounce or SUBJECT.encode() in head):
                    n += 1
    return n


def active(root: Path) -> list[str]:
    d = root / "state" / "spool" / "active"
    return sorted(p.name for p in d.iterdir()) if d.is_dir() else []


def complete(root: Path, peer_ok: bool) -> bool:
    return (not active(root) and mail_count(root, "alice", False) >= 1
            and mail_count(root, "bob", False) >= 1 and mail_count(root, "alice", True) >= 1
            and peer_ok)


# ---------------------------------------------------------------------------
# Recording

def record(binary: Path, work: Path) -> tuple[Path, Path, Peer, Path]:
    """Runs one life under strace; returns (the base state before it, the trace, the peer,
    the recording's root)."""
    root = work / "record"
    root.mkdir(parents=True)
    peer = Peer()
    port = free_port()
    cfg = write_config(root, port, peer.port)
    log = open(root / "server.log", "ab")
    # A first start and stop creates the folders: that state is the base.
    p = subprocess.Popen([str(binary), "serve", "-c", str(cfg)], stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=root)
    wait_banner(port, p)
    p.send_signal(signal.SIGTERM)
    p.wait(timeout=30)
    base = work / "base"
    shutil.copytree(root, base, symlinks=True)
    trace = work / "trace.txt"
    p = subprocess.Popen(["strace", "-f", "-ttt", "-y", "-x", "-s", "4194304", "-e",
                          f"trace={TRACED}", "-o", str(trace), str(binary), "serve", "-c",
                          str(cfg)], stdout=log, stderr=subprocess.STDOUT,
                         stdin=subprocess.DEVNULL, cwd=root)
    wait_banner(port, p)
    c = SmtpConn(port)
    c.cmd("EHLO client.example.net")
    qid = c.send_mail(f"alice@{DOMAIN}", [f"team@{DOMAIN}", "ok@remote.test",
                                          "nobody@remote.test"],
                      f"From: <alice@{DOMAIN}>\r\nSubject: {SUBJECT}\r\n\r\nbody\r\n".encode())
    c.quit()
    deadline = time.monotonic() + 60
    while not complete(root, peer.count() >= 1):
        if time.monotonic() > deadline:
            raise RuntimeError(f"the recorded life did not complete (queue id {qid})")
        time.sleep(0.1)
    # SIGTERM to posthorn itself (strace's child): strace then ends with it.
    for child in Path(f"/proc/{p.pid}/task/{p.pid}/children").read_text().split():
        os.kill(int(child), signal.SIGTERM)
    p.wait(timeout=60)
    return base, trace, peer, root


# ---------------------------------------------------------------------------
# The trace as operations

@dataclass
class Op:
    kind: str  # create write trunc rename link unlink mkdir fsync syncfs ack
    t: float
    path: str = ""  # create/unlink/mkdir/fsync target; rename/link: destination
    src: str = ""  # rename/link source
    ino: int = 0  # create/write/trunc/fsync of a file
    off: int = 0
    data: bytes = b""
    is_dir: bool = False  # fsync of a directory
    label: str = ""


_ESC = {"n": b"\n", "r": b"\r", "t": b"\t", "v": b"\v", "f": b"\f", '"': b'"', "\\": b"\\",
        "a": b"\a", "b": b"\b"}


def c_string(s: str) -> bytes:
    """strace's quoted string (without the quotes) as bytes."""
    out = bytearray()
    i = 0
    while i < len(s):
        ch = s[i]
        if ch != "\\":
            out += ch.encode("latin-1", "replace")
            i += 1
            continue
        nxt = s[i + 1]
        if nxt == "x":
            out.append(int(s[i + 2:i + 4], 16))
            i += 4
        elif nxt in _ESC:
            out += _ESC[nxt]
            i += 2
        elif nxt.isdigit():
            j = i + 1
            while j < len(s) and j < i + 4 and s[j].isdigit():
                j += 1
            out.append(int(s[i + 1:j], 8) & 0xFF)
            i = j
        else:
            out += nxt.encode()
            i += 2
    return bytes(out)


STR_RE = re.compile(r'"((?:[^"\\]|\\.)*)"')
LINE_RE = re.compile(r"^(\d+)\s+(\d+\.\d+)\s+(\w+)\((.*)\)\s+=\s+(-?\d+)(?:<([^>]*)>)?")
FD_RE = re.compile(r"^(-?\d+|AT_FDCWD)(?:<([^>]*)>)?")


def join_unfinished(lines):
    pending = {}
    for line in lines:
        m = re.match(r"^(\d+)\s+(\d+\.\d+)\s+(.*)$", line)
        if not m:
            continue
        pid, ts, rest = m.groups()
        if rest.endswith("<unfinished ...>"):
            pending[pid] = (ts, rest[: -len("<unfinished ...>")].rstrip())
            continue
        r = re.match(r"^<\.\.\. \w+ resumed>(.*)$", rest)
        if r:
            if pid not in pending:
                continue
            ts0, head = pending.pop(pid)
            yield f"{pid} {ts0} {head}{r.group(1)}"
            continue
        yield line


def parse_trace(trace: Path, prefixes: list[str], base: Path, root: Path) -> list[Op]:
    """The operations on files under `prefixes` (paths of the recording) and the acks."""
    ops: list[Op] = []
    fds: dict[int, list] = {}  # fd -> [ino, pos, path, is_dir]
    inodes: dict[str, int] = {}  # path -> ino (bindings as the trace goes)
    next_ino = [1]

    def under(path: str) -> bool:
        return any(path == p or path.startswith(p + "/") for p in prefixes)

    def ino_of(path: str) -> int:
        if path not in inodes:
            inodes[path] = next_ino[0]
            next_ino[0] += 1
        return inodes[path]

    def arg_path(args: str, index: int) -> str:
        strs = STR_RE.findall(args)
        return c_string(strs[index]).decode("utf-8", "replace") if len(strs) > index else ""

    for line in join_unfinished(trace.read_text(errors="replace").splitlines()):
        m = LINE_RE.match(line)
        if not m:
            continue
        _pid, ts, name, args, ret, ret_path = m.groups()
        t = float(ts)
        ret = int(ret)
        if ret < 0:
            continue
        fdm = FD_RE.match(args)
        fd = int(fdm.group(1)) if fdm and fdm.group(1) != "AT_FDCWD" else None
        fd_path = fdm.group(2) if fdm else None
        if name in ("open", "openat", "creat"):
            path = ret_path or ""
            if not under(path):
                continue
            is_dir = "O_DIRECTORY" in args
            created = "O_CREAT" in args and path not in inodes and not (
                (base / Path(path).relative_to(root)).exists())
            if created:
                inodes.pop(path, None)
                ops.append(Op("create", t, path=path, ino=ino_of(path), label=f"create {path}"))
            ino = ino_of(path) if not is_dir else 0
            if "O_TRUNC" in args and not created and not is_dir:
                ops.append(Op("trunc", t, ino=ino, off=0, label=f"truncate {path}"))
            fds[ret] = [ino, 0, path, is_dir]
        elif name in ("write", "pwrite64", "writev", "pwritev", "sendmsg", "sendto"):
            if fd_path and ("TCP" in fd_path or "socket" in fd_path):
                q = re.search(r"250 2\.0\.0 Ok: queued as (\S+?)\\r", args)
                if q:
                    ops.append(Op("ack", t, label=f"250 queued as {q.group(1)}", path=q.group(1)))
                continue
            if fd not in fds or name in ("sendmsg", "sendto"):
                continue
            ino, pos, path, _ = fds[fd]
            strs = STR_RE.findall(args)
            data = b"".join(c_string(s) for s in strs)[:ret]
            off = pos
            if name in ("pwrite64", "pwritev"):
                off = int(args.rsplit(",", 1)[1].strip())
            else:
                fds[fd][1] = pos + ret
            ops.append(Op("write", t, ino=ino, off=off, data=data,
                          label=f"write {len(data)} at {off} of {path}"))
        elif name == "ftruncate":
            if fd in fds:
                length = int(args.rsplit(",", 1)[1].strip())
                ops.append(Op("trunc", t, ino=fds[fd][0], off=length,
                              label=f"ftruncate {fds[fd][2]} to {length}"))
        elif name in ("fsync", "fdatasync"):
            if fd in fds:
                ino, _, path, is_dir = fds[fd]
                ops.append(Op("fsync", t, ino=ino, path=path, is_dir=is_dir,
                              label=f"{name} {path}"))
        elif name in ("syncfs", "sync"):
            ops.append(Op("syncfs", t, label=name))
        elif name in ("rename", "renameat", "renameat2"):
            if name == "rename":
                src, dst = arg_path(args, 0), arg_path(args, 1)
            else:
                src, dst = arg_path(args, 0), arg_path(args, 1)
            if not (under(src) or under(dst)):
                continue
            ino = inodes.pop(src, None) or ino_of(src)
            inodes[dst] = ino
            ops.append(Op("rename", t, src=src, path=dst, ino=ino,
                          label=f"rename {src} -> {dst}"))
        elif name in ("link", "linkat"):
            src, dst = arg_path(args, 0), arg_path(args, 1)
            if not under(dst):
                continue
            inodes[dst] = ino_of(src)
            ops.append(Op("link", t, src=src, path=dst, ino=inodes[dst],
                          label=f"link {src} -> {dst}"))
        elif name in ("unlink", "unlinkat"):
            path = arg_path(args, 0)
            if not under(path):
                continue
            inodes.pop(path, None)
            ops.append(Op("unlink", t, path=path, label=f"unlink {path}"))
        elif name in ("mkdir", "mkdirat"):
            path = arg_path(args, 0)
            if under(path):
                ops.append(Op("mkdir", t, path=path, label=f"mkdir {path}"))
        elif name == "close":
            fds.pop(fd, None)
    return ops


# ---------------------------------------------------------------------------
# Durability and the states

def parent(path: str) -> str:
    return path.rsplit("/", 1)[0]


def durable_before(ops: list[Op], point: int) -> set[int]:
    """Indexes (< point) of the operations a power cut at `point` cannot undo."""
    out: set[int] = set()
    for j in range(point):
        s = ops[j]
        if s.kind == "syncfs":
            out.update(i for i in range(j) if ops[i].kind not in ("fsync", "syncfs", "ack"))
        elif s.kind == "fsync" and not s.is_dir:
            out.update(i for i in range(j) if ops[i].kind in ("write", "trunc")
                       and ops[i].ino == s.ino)
        elif s.kind == "fsync" and s.is_dir:
            out.update(i for i in range(j) if ops[i].kind in ("create", "rename", "link",
                                                              "unlink", "mkdir")
                       and parent(ops[i].path) == s.path)
    return out


def crash_points(ops: list[Op]) -> list[int]:
    pts = {len(ops)}
    for i, op in enumerate(ops):
        if op.kind in ("fsync", "syncfs", "ack"):
            pts.add(i + 1)
    return sorted(pts)


def states(ops: list[Op], point: int, full: bool):
    """(name, [indexes kept], torn write index or None) for a crash at `point`."""
    mutating = [i for i in range(point) if ops[i].kind not in ("fsync", "syncfs", "ack")]
    dur = durable_before(ops, point)
    nd = [i for i in mutating if i not in dur]
    yield "prefix", mutating, None
    yield "durable", sorted(dur), None
    if not full:
        return
    for x in nd:
        yield f"drop {ops[x].label}", [i for i in mutating if i != x], None
        yield f"only {ops[x].label}", sorted(dur | {x}), None
    writes = [i for i in nd if ops[i].kind == "write" and len(ops[i].data) > 1]
    if writes:
        yield f"torn {ops[writes[-1]].label}", mutating, writes[-1]


def materialize(ops: list[Op], keep: list[int], torn: int | None, base: Path, rec_root: Path,
                out: Path) -> str:
    """Builds the state in `out` (base copy + kept operations); returns its digest."""
    files: dict[str, int] = {}
    content: dict[int, bytearray] = {}
    dirs: set[str] = set()
    next_ino = 10_000_000
    for p in base.rglob("*"):
        rel = str(rec_root / p.relative_to(base))
        if p.is_dir() and not p.is_symlink():
            dirs.add(rel)
        elif p.is_file() and not p.is_symlink():
            files[rel] = next_ino
            content[next_ino] = bytearray(p.read_bytes())
            next_ino += 1
    # The trace's inode numbers, re-bound for files of the base on first use.
    for i in keep:
        op = ops[i]
        if op.kind == "create":
            files[op.path] = op.ino
            content[op.ino] = bytearray()
        elif op.kind == "write":
            buf = content.setdefault(op.ino, bytearray())
            data = op.data[: len(op.data) // 2] if i == torn else op.data
            if len(buf) < op.off:
                buf.extend(b"\0" * (op.off - len(buf)))
            buf[op.off:op.off + len(data)] = data
        elif op.kind == "trunc":
            buf = content.setdefault(op.ino, bytearray())
            del buf[op.off:]
        elif op.kind in ("rename", "link"):
            # The new entry names the inode whether or not the entry it came from made
            # it to disk (a file created in a folder never synced, renamed into a synced
            # one, is there).
            ino = op.ino
            if ino not in content and op.src in files:
                ino = files[op.src]  # a file of the base, never written in the trace
            if op.kind == "rename" and files.get(op.src) == ino:
                del files[op.src]
            files[op.path] = ino
            content.setdefault(ino, bytearray())
        elif op.kind == "unlink":
            files.pop(op.path, None)
        elif op.kind == "mkdir":
            dirs.add(op.path)
    if out.exists():
        shutil.rmtree(out)
    digest = hashlib.sha256()
    for d in sorted(dirs):
        target = out / Path(d).relative_to(rec_root)
        target.mkdir(parents=True, exist_ok=True)
        digest.update(b"d" + d.encode())
    for path, ino in sorted(files.items()):
        if not any(path == d or path.startswith(d + "/") for d in dirs) and \
                parent(path) not in dirs:
            continue  # its folder never made it
        target = out / Path(path).relative_to(rec_root)
        target.parent.mkdir(parents=True, exist_ok=True)
        data = bytes(content.get(ino, b""))
        target.write_bytes(data)
        digest.update(b"f" + path.encode() + hashlib.sha256(data).digest())
    return digest.hexdigest()


# ---------------------------------------------------------------------------
# Checking one state

def check_state(binary: Path, state_root: Path, acked: bool, peer_had_it: bool,
                peer: Peer) -> str | None:
    """Recovery on the state; None when the invariant holds, else what is wrong."""
    port = free_port()
    cfg = write_config(state_root, port, peer.port)  # same paths, now under state_root
    before = peer.count()
    log = open(state_root / "server.log", "ab")
    p = subprocess.Popen([str(binary), "serve", "-c", str(cfg)], stdout=log,
                         stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=state_root)
    try:
        try:
            wait_banner(port, p)
        except RuntimeError as e:
            return f"recovery did not start: {e}"
        deadline = time.monotonic() + 40
        while time.monotonic() < deadline:
            # An empty queue is final: a report is queued before its original leaves,
            # and the original leaves only after its deliveries.
            if not active(state_root):
                break
            if p.poll() is not None:
                return f"posthorn exited during recovery ({p.returncode})"
            time.sleep(0.05)
        if acked:
            peer_ok = peer_had_it or peer.count() > before
            if not complete(state_root, peer_ok):
                return (f"acknowledged but not delivered: alice "
                        f"{mail_count(state_root, 'alice', False)}, bounce "
                        f"{mail_count(state_root, 'alice', True)}, bob "
                        f"{mail_count(state_root, 'bob', False)}, peer {peer_ok}, queue "
                        f"{active(state_root)}")
        elif active(state_root):
            return f"the queue did not settle: {active(state_root)}"
        return None
    finally:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()
        log.close()


def recorded_ops(binary: Path, work: Path):
    base, trace, rec_peer, rec_root = record(binary, work)
    rec_peer.stop()
    prefixes = [str(rec_root / "state"), str(rec_root / "mail")]
    return parse_trace(trace, prefixes, base, rec_root), base, rec_root, rec_peer


def self_test(binary: Path, work: Path) -> str | None:
    """The checker must catch a missing fsync: the trace without the fsync of
    spool/active that precedes the 250, cut right after the 250 with only the durable
    operations kept, must lose the message. Returns the problem found (None = the tool
    missed it)."""
    work.mkdir(parents=True, exist_ok=True)
    ops, base, rec_root, _ = recorded_ops(binary, work)
    ack = next(i for i, op in enumerate(ops) if op.kind == "ack")
    sync = max(i for i in range(ack) if ops[i].kind == "fsync" and ops[i].is_dir
               and ops[i].path.endswith("/spool/active"))
    mutated = ops[:sync] + ops[sync + 1:]
    point = ack  # just after the ack, one operation earlier in the mutated list
    keep = sorted(durable_before(mutated, point))
    scratch = work / "state"
    materialize(mutated, keep, None, base, rec_root, scratch)
    peer = Peer()
    try:
        return check_state(binary, scratch, True, False, peer)
    finally:
        peer.stop()


def run(binary: Path, full: bool = False, keep: Path | None = None, out=sys.stdout) -> dict:
    work = Path(keep or tempfile.mkdtemp(prefix="posthorn-alice-"))
    work.mkdir(parents=True, exist_ok=True)
    ops, base, rec_root, rec_peer = recorded_ops(binary, work)
    kinds = {}
    for op in ops:
        kinds[op.kind] = kinds.get(op.kind, 0) + 1
    print(f"alice: {len(ops)} operations recorded: {json.dumps(kinds, sort_keys=True)}",
          file=out)
    acks = [i for i, op in enumerate(ops) if op.kind == "ack"]
    if not acks:
        raise RuntimeError("the trace holds no 250 for the message")
    peer_time = rec_peer.received[0] if rec_peer.received else float("inf")
    peer = Peer()
    seen: dict[str, str | None] = {}
    results = []
    try:
        for point in crash_points(ops):
            acked = any(a < point for a in acks)
            last_t = ops[point - 1].t if point else 0
            peer_had_it = peer_time <= last_t
            for name, keep_idx, torn in states(ops, point, full):
                scratch = work / "state"
                digest = materialize(ops, keep_idx, torn, base, rec_root, scratch)
                key = f"{digest}:{acked}:{peer_had_it}"
                if key in seen:
                    continue
                problem = check_state(binary, scratch, acked, peer_had_it, peer)
                seen[key] = problem
                where = ops[point - 1].label if point else "start"
                results.append({"point": point, "after": where, "state": name,
                                "acked": acked, "problem": problem})
                mark = "ok " if problem is None else "BAD"
                print(f"alice: {mark} crash after #{point} ({where}); {name}"
                      + (f": {problem}" if problem else ""), file=out, flush=True)
                if problem:
                    shutil.copytree(scratch, work / f"bad-{len(results)}")
    finally:
        peer.stop()
    bad = [r for r in results if r["problem"]]
    summary = {"operations": len(ops), "kinds": kinds, "crash_points": len(crash_points(ops)),
               "states_checked": len(results), "violations": len(bad), "full": full,
               "workdir": str(work)}
    print(json.dumps(summary, indent=2), file=out)
    summary["results"] = results
    summary["ops"] = [op.label for op in ops]
    return summary


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", type=Path, default=REPO / "build" / "posthorn")
    ap.add_argument("--full", action="store_true",
                    help="also drop-one, only-one and torn states (ALICE's reorderings)")
    ap.add_argument("--keep", type=Path, help="work folder, kept (default: temp, removed "
                    "when every state passes)")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    if shutil.which("strace") is None:
        print("alice: strace is not installed (apt-get install strace)", file=sys.stderr)
        return 2
    res = run(a.bin.resolve(), a.full, a.keep)
    if a.json:
        a.json.write_text(json.dumps(res, indent=1) + "\n")
    if not res["violations"] and a.keep is None:
        shutil.rmtree(res["workdir"], ignore_errors=True)
    print("alice: " + ("PASS" if not res["violations"] else "FAIL"))
    return 0 if not res["violations"] else 1


if __name__ == "__main__":
    sys.exit(main())
