"""Crash-point sweep (issue 13): the fault shim kills posthorn (SIGKILL) just before its
Nth write, fsync, rename, link or unlink under the state and mail folders, for every N
along one message's whole life, and a restart without the shim must recover to a state
where the acknowledged message reaches every recipient and its bounce reaches the sender
(duplicates allowed, losses never), the spool holds nothing torn or corrupt, and a message
the client was refused never turns up. The same sweep with errors instead of crashes (EIO
from the Nth fsync, ENOSPC from the Nth write, EROFS from the Nth rename) checks the other
half of the promise: a 451 means the message is gone, a 250 that it is delivered.

Lives swept:
  fanout  alice -> team (alice, bob), ok@remote.test (relayed to a peer) and
          nobody@remote.test (refused 550 by the peer): accept, commit, local delivery
          with fan-out, relay, bounce to alice and its local delivery.
  expiry  alice -> bob and late@remote.test (the peer says 451 forever): the remote
          recipient expires after [queue] max_lifetime (2 s) and alice gets a 4.4.7 bounce.

By default each sweep samples about eight crash points spread over the life; set
POSTHORN_SWEEP=full for every N (a few minutes per life on two cores).
"""

from __future__ import annotations

import os
import shutil
import time

import pytest

from faultshim import shim_env
from peers import SMARTHOST, WAIT_TIMEOUT, parse_report, remote  # noqa: F401
from smtpclient import ConnectionClosed, make_message

ALICE = "alice@example.test"
BOB = "bob@example.test"
FULL = os.environ.get("POSTHORN_SWEEP", "") == "full"
SAMPLES = 8  # crash points per life (and per error kind) in the short sweep

LIVES = {
    "fanout": dict(rcpts=["team@example.test", "ok@remote.test", "nobody@remote.test"],
                   queue={"retry": ["1s"], "delay_warning": "0s", "max_lifetime": "1d"}),
    "expiry": dict(rcpts=[BOB, "late@remote.test"],
                   queue={"retry": ["1s"], "delay_warning": "0s", "max_lifetime": "2s"}),
}


class Life:
    """One message's life on a fresh server and peer, with or without the shim."""

    def __init__(self, remote, name: str, env_for):
        self.remote = remote
        self.name = name
        spec = LIVES[name]
        self.peer = remote.peer(SMARTHOST)
        self.peer.fail_rcpt_to("nobody@remote.test", "550 5.1.1 <nobody@remote.test>: User unknown")
        self.peer.fail_rcpt_to("late@remote.test", "451 4.3.0 Try again later")
        self.srv = remote._make_server(start=False, smarthost=f"{SMARTHOST}:{remote.port}",
                                       nameservers=[remote.dns.address],
                                       outbound_port=remote.port, queue=spec["queue"])
        remote.servers.append(self.srv)
        self.srv.env = env_for(self.srv)
        self.rcpts = spec["rcpts"]
        self.reply = None  # the reply to the end of DATA; None when the server died first
        self.peer_before = len(self.peer.messages)

    def send(self):
        self.srv.start()
        try:
            with self.srv.session() as c:
                assert c.cmd(f"MAIL FROM:<{ALICE}>").code == 250
                for r in self.rcpts:
                    assert c.cmd(f"RCPT TO:<{r}>").code == 250
                self.reply = c.data(make_message(subject=f"life {self.name}", sender=ALICE))
        except (ConnectionClosed, OSError):
            pass  # killed during the session: the client never heard a reply

    # -- what a settled life looks like ---------------------------------------------
    def originals(self, address: str) -> int:
        return sum(1 for raw in self.srv.mail(address)
                   if f"Subject: life {self.name}".encode() in raw.split(b"\n\n", 1)[0]
                   and b"multipart/report" not in raw.split(b"\n\n", 1)[0])

    def bounces(self) -> list:
        return [parse_report(raw) for raw in self.srv.mail(ALICE)
                if b"Return-Path: <>" in raw.split(b"\n", 1)[0]]

    def relayed(self) -> int:
        return len(self.peer.messages) - self.peer_before

    def complete(self) -> bool:
        """Everything the life should produce is there and the spool is empty."""
        if self.srv.spool_files():
            return False
        if self.name == "fanout":
            return (self.originals(ALICE) >= 1 and self.originals(BOB) >= 1
                    and self.relayed() >= 1 and len(self.bounces()) >= 1)
        return self.originals(BOB) >= 1 and len(self.bounces()) >= 1

    def settle(self, timeout: float = 30.0) -> bool:
        """Waits until the server died (the shim's crash) or the life completed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.srv.running() or self.complete():
                return True
            time.sleep(0.05)
        return False

    def check_recovered(self, what: str):
        """After the restart: the invariant of DESIGN.md §4.1."""
        acked = self.reply is not None and self.reply.code == 250
        refused = self.reply is not None and self.reply.code != 250
        if acked:
            deadline = time.monotonic() + WAIT_TIMEOUT * 2
            while not self.complete() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert self.complete(), f"{what}: acknowledged, but after recovery " + self.state()
            if self.name == "fanout":
                for rep in self.bounces():
                    assert rep.recipient("nobody@remote.test").get("status") == "5.1.1"
            else:
                for rep in self.bounces():
                    assert rep.recipient("late@remote.test").get("status") == "4.4.7"
        else:
            # Unacknowledged: it may or may not have been committed. Either way the queue
            # settles (delivered, or gone) instead of holding on to something torn.
            deadline = time.monotonic() + WAIT_TIMEOUT * 2
            while self.srv.spool_files() and not self.complete() and \
                    time.monotonic() < deadline:
                time.sleep(0.05)
            if self.srv.spool_files():
                assert self.complete(), f"{what}: unacknowledged and stuck: " + self.state()
        if refused:
            # A 4xx/5xx at the end of DATA means the message does not exist.
            assert self.originals(ALICE) == 0 and self.originals(BOB) == 0 and \
                self.relayed() == 0, f"{what}: refused with {self.reply} but delivered: " + \
                self.state()
        spool = self.srv.state_dir / "spool"
        corrupt = spool / "corrupt"
        assert not corrupt.is_dir() or not list(corrupt.iterdir()), \
            f"{what}: recovery set files aside: {list(corrupt.iterdir())}"
        incoming = spool / "incoming"
        assert not incoming.is_dir() or not list(incoming.iterdir()), \
            f"{what}: incoming/ after recovery: {list(incoming.iterdir())}"

    def state(self) -> str:
        return (f"reply {self.reply}; alice {self.originals(ALICE)} original(s), "
                f"{len(self.bounces())} bounce(s); bob {self.originals(BOB)}; peer "
                f"{self.relayed()}; spool {[p.name for p in self.srv.spool_files()]}\n"
                f"{self.srv.log_tail(40)}")

    def close(self):
        self.srv.stop()
        self.peer.fail_rcpt_to("nobody@remote.test", None)
        self.peer.fail_rcpt_to("late@remote.test", None)


def watched(srv) -> str:
    """The shim's prefixes: the state folder (spool) and the Maildirs."""
    return f"{srv.state_dir}:{srv.maildir_root}"


def calibrate(remote, name: str, tmp_path) -> list[tuple[int, str, str]]:
    """One undisturbed life with the shim only counting: its numbered calls."""
    log = tmp_path / f"calibrate-{name}.log"
    life = Life(remote, name, lambda srv: shim_env(watched(srv), log=log))
    life.send()
    assert life.reply is not None and life.reply.code == 250, life.state()
    assert life.settle(), f"the life did not complete: {life.state()}"
    life.close()
    calls = []
    for line in log.read_text().splitlines():
        n, kind, path = line.split(" ", 2)
        if n.isdigit():
            calls.append((int(n), kind, path))
    assert calls, "the shim counted nothing: is it loaded?"
    return calls


def first_of_life(calls) -> int:
    """The number of the message's first call: the ones before are the server's start
    (its keys, sockets, the spool's folders), done before it answers the banner."""
    return next(n for n, _, path in calls if "/spool/incoming/" in path)


def points(first: int, total: int) -> list[int]:
    if FULL or total - first < SAMPLES:
        return list(range(first, total + 1))
    step = (total - first) / SAMPLES
    return sorted({first + round(step * i + step / 2) for i in range(SAMPLES)} | {first, total})


def reset(remote):
    """A clean peer record for the next life (the servers are separate per life)."""
    for p in remote.peers.values():
        with p.lock:
            p.transactions.clear()


@pytest.mark.parametrize("name", sorted(LIVES))
def test_crash_at_every_step_recovers(remote, tmp_path, name):
    calls = calibrate(remote, name, tmp_path)
    kinds = sorted({k for _, k, _ in calls})
    assert {"write", "fsync", "rename"} <= set(kinds), kinds
    crashed = 0
    for n in points(first_of_life(calls), len(calls)):
        reset(remote)
        log = tmp_path / f"crash-{name}-{n}.log"
        life = Life(remote, name, lambda srv: shim_env(watched(srv), crash_at=n, log=log))
        life.send()
        assert life.settle(), f"crash at {n}: neither died nor completed: {life.state()}"
        if not life.srv.running():
            crashed += 1
            life.srv.env = {}
            life.srv.restart()
        what = f"{name}, crash before call {n} ({calls[n - 1][1]} {calls[n - 1][2]})"
        life.check_recovered(what)
        life.close()
        shutil.rmtree(life.srv.root, ignore_errors=True)
    assert crashed > 0, "no crash point was reached"


ERRORS = {"fsync": "EIO", "write": "ENOSPC", "rename": "EROFS"}


@pytest.mark.parametrize("name", sorted(LIVES))
def test_error_at_every_step_is_refused_or_kept(remote, tmp_path, name):
    calls = calibrate(remote, name, tmp_path)
    start = first_of_life(calls)
    for kind, err in ERRORS.items():
        # The kind's calls are counted apart (FAULTSHIM_FAIL_AT): those of the start skipped.
        before = sum(1 for n, k, _ in calls if k == kind and n < start)
        total = sum(1 for _, k, _ in calls if k == kind)
        for n in points(before + 1, total):
            reset(remote)
            life = Life(remote, name, lambda srv: shim_env(
                watched(srv), kinds=kind, fail=f"{kind}:{err}", fail_at=n, fail_count=1))
            life.send()
            what = f"{name}, {err} from {kind} call {n}"
            assert life.reply is not None, f"{what}: no reply: {life.state()}"
            assert life.reply.code == 250 or life.reply.is_(451, "4.3.0"), \
                f"{what}: {life.reply}"
            if life.reply.code == 250:
                # The fault passes (fail_count=1) and retries are 1 s apart: a failed
                # delivery or report step is tried again and the life completes.
                assert life.settle() and life.srv.running(), f"{what}: {life.state()}"
            assert life.srv.running(), f"{what}: the server died: {life.state()}"
            life.srv.stop()
            life.srv.env = {}
            life.srv.restart()
            life.check_recovered(what)
            life.close()
            shutil.rmtree(life.srv.root, ignore_errors=True)
