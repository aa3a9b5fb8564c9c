"""A crash during alias fan-out costs at most a duplicate, never a member's copy
(DESIGN.md §4.1).

strace's fault injection kills the serving process at the Nth call of one family of
system calls (link, rename, unlink, fsync) after the server has started, for N = 1, 2,
3, ... until a delivery completes without being killed. After each kill a plain server
starts on the same state; once its queue is empty, every member of `fan` holds the
message (byte for byte; duplicates are counted, not refused), and the start-up sweep
has left no crash marker in any tmp/.

strace counts calls per thread, so the kill lands at the Nth call of whichever thread
gets there first: the committer's calls come before "250" (an unacknowledged message
may be delivered or not, but then to every member or to none), the delivery thread's
calls after it.
"""

from __future__ import annotations

import re
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import parse_delivered, to_lf
from smtpclient import ConnectionClosed, make_message

MEMBERS = ("u1@example.test", "u2@example.test", "u3@example.test")
ALIAS = "fan@example.test"
FAMILIES = {
    "link": "link,linkat",
    "rename": "rename,renameat,renameat2",
    "unlink": "unlink,unlinkat",
    "fsync": "fsync,fdatasync,syncfs",
}
MAX_N = 60  # a sweep that has not ended by then is a failure of its own
STEP_TIMEOUT = 20.0  # seconds for one attempt to die or to finish its delivery


def strace_or_skip() -> str:
    try:
        subprocess.run(["strace", "-V"], capture_output=True, check=True, timeout=10)
    except (OSError, subprocess.SubprocessError):
        pytest.skip("strace is not installed (scripts/bootstrap installs it)")
    return "strace"


def attach(srv, syscalls: str, n: int, trace: Path) -> subprocess.Popen:
    """strace on every thread of the running server, killing it at the Nth call of
    `syscalls` in one thread; returns once strace reports the attachment."""
    proc = subprocess.Popen(
        ["strace", "-f", "-o", str(trace), "-e", f"trace={syscalls}",
         "-e", f"inject={syscalls}:signal=KILL:when={n}", "-p", str(srv.proc.pid)],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
        text=True)
    line = proc.stderr.readline()
    if "attached" not in line:
        proc.kill()
        proc.wait()
        pytest.skip(f"strace cannot attach here (ptrace not allowed?): {line.strip()}")
    return proc


def send(srv, message: bytes) -> str | None:
    """The queue id when the server acknowledged the message, else None."""
    try:
        with srv.session() as c:
            return c.send_mail("someone@example.net", [ALIAS], message)
    except (ConnectionClosed, OSError, AssertionError):
        return None


def tmp_files(srv) -> list[Path]:
    out = []
    for m in MEMBERS:
        tmp = srv.mailbox(m) / "tmp"
        if tmp.is_dir():
            out += sorted(tmp.iterdir())
    return out


def log_since_start(srv, start: int) -> str:
    text = srv.log_path.read_text(errors="replace")
    marker = f"---- start {start} ----"
    return text[text.find(marker):] if marker in text else ""


def wait_dead_or_delivered(srv, qid: str | None) -> bool:
    """True when the process was killed; False when the delivery ran to its end (the
    message removed from the spool and every crash marker dropped) while it lived."""
    deadline = time.monotonic() + STEP_TIMEOUT
    while time.monotonic() < deadline:
        if srv.proc.poll() is not None:
            return True
        if qid is not None and f"id={qid} status=removed" in srv.log_path.read_text(
                errors="replace") and not tmp_files(srv):
            return False
        time.sleep(0.02)
    raise AssertionError(f"neither killed nor delivered within {STEP_TIMEOUT:.0f}s\n"
                         f"{srv.log_tail()}")


def copies(srv, message: bytes) -> dict[str, int]:
    """Files in each member's new/; each must be the fan-out of `message`."""
    out = {}
    for m in MEMBERS:
        files = srv.mail_files(m)
        for f in files:
            d = parse_delivered(f.read_bytes())
            assert d.delivered_to == ALIAS, f"{f}: Delivered-To {d.delivered_to}"
            assert d.message == to_lf(message), f"{f}: not the message sent"
        out[m] = len(files)
    return out


def wait_swept(srv, start: int):
    """The restarted server has run its start-up Maildir sweep and no crash marker is
    left in any member's tmp/."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if "event=maildir_sweep" in log_since_start(srv, start) and not tmp_files(srv):
            return
        time.sleep(0.02)
    raise AssertionError(f"after recovery tmp/ still holds {[str(p) for p in tmp_files(srv)]} "
                         f"(sweep logged: {'event=maildir_sweep' in log_since_start(srv, start)})"
                         f"\n{srv.log_tail()}")


@pytest.mark.parametrize("family", list(FAMILIES))
def test_a_kill_at_every_step_of_an_alias_fan_out_loses_no_copy(make_server, family):
    strace_or_skip()
    syscalls = FAMILIES[family]
    report = []
    for n in range(1, MAX_N + 1):
        srv = make_server(users=MEMBERS, aliases="fan: u1, u2, u3\n")
        message = make_message(subject=f"fan-out {family} {n}", to=ALIAS)
        trace = srv.root / "strace.out"
        tracer = attach(srv, syscalls, n, trace)
        qid = send(srv, message)
        killed = wait_dead_or_delivered(srv, qid)
        if not killed:
            # The Nth call is past the whole delivery: the sweep of this family ends.
            tracer.send_signal(signal.SIGTERM)  # detaches
            tracer.wait(timeout=10)
            assert qid is not None, srv.log_tail()
            assert copies(srv, message) == {m: 1 for m in MEMBERS}, srv.log_tail()
            srv.stop()
            break
        tracer.wait(timeout=10)
        assert srv.proc.returncode == -signal.SIGKILL, srv.log_tail()
        calls = trace.read_text(errors="replace").count("\n") if trace.exists() else 0
        srv.restart()
        srv.wait_spool_empty()
        got = copies(srv, message)
        where = (f"{family} call {n} (acknowledged: {qid is not None}; traced lines {calls})\n"
                 f"strace:\n{trace.read_text(errors='replace')[-3000:]}\n"
                 f"server log:\n{srv.log_tail(80)}")
        if qid is not None:
            lost = [m for m, k in got.items() if k == 0]
            assert not lost, f"lost the copy of {lost} after a kill at {where}"
        else:
            # Never acknowledged: delivered to every member (committed just before the
            # kill) or to none (removed at recovery), never to some.
            assert len(set(min(k, 1) for k in got.values())) == 1, f"{got} after {where}"
        wait_swept(srv, srv.starts)
        dups = {m: k for m, k in got.items() if k > 1}
        report.append(f"N={n} acked={qid is not None} copies={got}" +
                      (f" duplicates={dups}" if dups else ""))
        srv.stop()
    else:
        pytest.fail(f"{family}: still killed at call {MAX_N}; the sweep did not end")
    print(f"\n{family}: " + "\n  ".join(report))
