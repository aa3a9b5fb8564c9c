"""I/O faults (issue 13, DESIGN.md §4.1): with the fault shim posthorn's own system calls
fail as a sick disk makes them fail: EIO from fsync, ENOSPC from write, EROFS from open and
rename. The client must hear 451 4.3.0 (never a 250 after a failed flush), nothing may be
left half-written in the spool, and once the fault clears the server serves as before.
Then the same once for real: the spool on a small loop-mounted ext4 filled to the brim.
And the bounce-loss bug: a delivery report that cannot be queued keeps the original.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from conftest import parse_delivered, run_cli
from faultshim import set_faults, shim_env
from peers import parse_report
from smtpclient import make_message

ALICE = "alice@example.test"

# (kind, errno): each fault on the commit path. "open" covers the queue file's creation.
COMMIT_FAULTS = [("fsync", "EIO"), ("write", "ENOSPC"), ("open", "EROFS"), ("rename", "EROFS")]


def spool_leftovers(srv) -> dict:
    """Files in the spool's folders that no acknowledged message explains."""
    spool = srv.state_dir / "spool"
    out = {}
    for sub in ("incoming", "active", "status"):
        d = spool / sub
        out[sub] = sorted(p.name for p in d.iterdir()) if d.is_dir() else []
    return out


def subjects_of(srv, address: str) -> list[str]:
    return sorted(line.decode() for raw in srv.mail(address)
                  for line in parse_delivered(raw).message.split(b"\n")
                  if line.startswith(b"Subject: "))


@pytest.fixture
def faulty(make_server):
    """A server whose spool calls go through the shim; faults switched by a control file."""
    srv = make_server(start=False)
    srv.control = srv.root / "faults"
    srv.shim_log = srv.root / "shim.log"
    srv.env = shim_env(srv.state_dir / "spool", control=srv.control, log=srv.shim_log,
                       kinds="write,fsync,rename,link,unlink,open")
    srv.start()
    return srv


@pytest.mark.parametrize("kind,errno_name", COMMIT_FAULTS)
def test_commit_fault_answers_451_leaves_nothing_and_clears(faulty, kind, errno_name):
    set_faults(faulty.control, f"{kind} {errno_name}")
    with faulty.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
        r = c.data(make_message(subject="during the fault"))
        assert r.is_(451, "4.3.0"), r
        # The shim did fail the call: the 451 is the fault's, not something else's.
        assert f"fail {kind} " in faulty.shim_log.read_text(), faulty.shim_log.read_text()
        assert spool_leftovers(faulty) == {"incoming": [], "active": [], "status": []}
        # The fault clears; the same session goes on and the next message is kept.
        set_faults(faulty.control)
        assert c.cmd("RSET").code == 250
        c.send_mail("someone@example.net", [ALICE], make_message(subject="after the fault"))
        c.quit()
    faulty.wait_for_mail(ALICE)
    faulty.wait_spool_empty()
    # Only the acknowledged message exists; the refused one never turns up.
    assert subjects_of(faulty, ALICE) == ["Subject: after the fault"]
    faulty.stop()
    faulty.restart()
    faulty.wait_spool_empty()
    assert subjects_of(faulty, ALICE) == ["Subject: after the fault"]


def test_fsync_failure_is_never_retried_into_a_250(faulty):
    """DESIGN.md §4.1: after a failed fsync the page cache may claim data the disk lacks,
    so the commit is not retried: one failed flush, one 451, and no second try at the
    same file."""
    set_faults(faulty.control, "fsync EIO")
    with faulty.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
        r = c.data(make_message(subject="flush fails"))
        assert r.is_(451, "4.3.0"), r
    set_faults(faulty.control)
    log = faulty.shim_log.read_text().splitlines()
    failed = [line.split(" ", 3)[3] for line in log if line.startswith("fail fsync ")]
    assert len(failed) == 1, log
    # No fsync of that file after the failed one (the counted lines are "<n> fsync <path>").
    after = log[log.index(next(x for x in log if x.startswith("fail fsync "))) + 1:]
    assert not [x for x in after if x.endswith(" fsync " + failed[0])], log


def test_maildir_fsync_failure_defers_and_delivers_once_cleared(make_server):
    """Local delivery (DESIGN.md §4.1: tmp/ -> fsync -> new/ -> fsync new/): a failed fsync
    in the Maildir leaves the message queued, deferred, never marked delivered; when the
    fault clears, a flush delivers it exactly once."""
    srv = make_server(start=False, queue={"retry": ["1h"]})
    srv.control = srv.root / "faults"
    srv.env = shim_env(srv.maildir_root, control=srv.control)
    set_faults(srv.control, "fsync EIO")
    srv.start()
    with srv.session() as c:
        c.send_mail("someone@example.net", [ALICE], make_message(subject="maildir fsync"))
    srv.wait_log(r"to=<alice@example\.test>.*status=deferred")
    assert srv.spool_files(), "the message must stay queued"
    assert srv.mail(ALICE) == []
    set_faults(srv.control)
    r = run_cli("queue", "flush", config=srv.config_path)
    assert r.returncode == 0, r.stderr
    srv.wait_for_mail(ALICE)
    srv.wait_spool_empty()
    assert subjects_of(srv, ALICE) == ["Subject: maildir fsync"]
    tmp = srv.mailbox(ALICE) / "tmp"
    assert not tmp.is_dir() or not list(tmp.iterdir()), list(tmp.iterdir())


# ---------------------------------------------------------------------------
# The bounce-loss bug: the report is committed before the original is marked reported.

@pytest.mark.parametrize("kind,errno_name", [("fsync", "EIO"), ("write", "ENOSPC"),
                                             ("open", "EROFS")])
def test_report_that_cannot_be_queued_keeps_the_original(make_server, kind, errno_name):
    # alice writes to an alias with an unknown member: bob gets it, ghost bounces, and
    # the bounce goes to alice. The original is queue file number 1 in incoming/, the
    # bounce number 2: the shim fails the bounce's first `kind` call there.
    srv = make_server(start=False, queue={"retry": ["1h"]},
                      aliases="broken: bob, ghost\n")
    srv.env = shim_env(srv.state_dir / "spool" / "incoming", kinds=kind,
                       fail=f"{kind}:{errno_name}", fail_at=2, fail_count=1)
    srv.start()
    with srv.session() as c:
        qid = c.send_mail(ALICE, ["broken@example.test"], make_message(subject="to broken"))
    srv.wait_for_mail("bob@example.test")
    srv.wait_log(rf"id={qid} cannot queue the delivery report")
    srv.wait_log(rf"id={qid} event=dsn-deferred")
    # The original stays: ghost failed and is still owed its report, on disk too.
    assert [p.name for p in srv.spool_files()] == [qid]
    r = run_cli("queue", "list", "--json", config=srv.config_path)
    assert r.returncode == 0, r.stderr
    (listed,) = json.loads(r.stdout)
    states = {x["address"]: x["status"] for x in listed["recipients"]}
    assert states == {"bob@example.test": "delivered", "ghost@example.test": "failed"}, listed
    assert srv.mail(ALICE) == []
    # The fault has passed (fail_count=1): a flush tries the report again; it is queued,
    # delivered to alice, and only then does the original leave the spool.
    r = run_cli("queue", "flush", config=srv.config_path)
    assert r.returncode == 0, r.stderr
    (raw,) = srv.wait_for_mail(ALICE)
    srv.wait_spool_empty()
    rep = parse_report(raw)
    assert rep.recipient("ghost@example.test").get("action", "").lower() == "failed"
    assert rep.recipient("ghost@example.test").get("status") == "5.1.1"
    assert len(srv.mail("bob@example.test")) == 1


def test_report_owed_at_a_crash_is_sent_after_restart(make_server):
    """The same with the server killed while the report is owed: recovery finds the
    unreported recipient and queues the report."""
    srv = make_server(start=False, queue={"retry": ["1h"]}, aliases="broken: bob, ghost\n")
    srv.env = shim_env(srv.state_dir / "spool" / "incoming", kinds="fsync",
                       fail="fsync:EIO", fail_at=2, fail_count=1)
    srv.start()
    with srv.session() as c:
        qid = c.send_mail(ALICE, ["broken@example.test"], make_message(subject="to broken"))
    srv.wait_log(rf"id={qid} event=dsn-deferred")
    srv.kill()
    srv.env = {}
    srv.restart()
    (raw,) = srv.wait_for_mail(ALICE)
    srv.wait_spool_empty()
    assert parse_report(raw).actions == ["failed"]
    assert len(srv.mail("bob@example.test")) == 1


# ---------------------------------------------------------------------------
# Once for real: the spool on a small loop-mounted ext4, filled to the brim.

@pytest.fixture
def small_fs(tmp_path):
    """An 8 MB ext4 (no blocks reserved for root) mounted on tmp_path/fs; skipped where
    mounting is not permitted (no root, no loop devices: a container)."""
    for tool in ("mkfs.ext4", "mount", "umount"):
        if shutil.which(tool) is None:
            pytest.skip(f"{tool} not installed (e2fsprogs, mount)")
    image = tmp_path / "fs.img"
    mnt = tmp_path / "fs"
    mnt.mkdir()
    with open(image, "wb") as f:
        f.truncate(8 * 1024 * 1024)
    subprocess.run(["mkfs.ext4", "-q", "-F", "-m", "0", str(image)], check=True,
                   capture_output=True)
    r = subprocess.run(["mount", "-o", "loop", str(image), str(mnt)], capture_output=True,
                       text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a loop file system here: {r.stderr.strip()}")
    try:
        yield mnt
    finally:
        for _ in range(50):
            if subprocess.run(["umount", str(mnt)], capture_output=True).returncode == 0:
                break
            time.sleep(0.1)  # the server may still hold a file open for a moment
        else:
            # A failed test may leave its server running (make_server stops it later):
            # detach the mount now, the kernel frees it when the last file closes.
            subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(path: Path) -> Path:
    """Writes one file until the file system says ENOSPC."""
    filler = path / "filler"
    chunk = b"\0" * 65536
    with open(filler, "wb", buffering=0) as f:
        try:
            while True:
                f.write(chunk)
        except OSError:
            pass
        try:
            while True:
                f.write(b"\0" * 512)
        except OSError:
            pass
    return filler


def test_full_spool_file_system_refuses_cleanly_and_recovers(make_server, small_fs):
    # min_free_space 0: the check before DATA cannot help, so the commit itself hits
    # ENOSPC, as on a disk filled by something else between MAIL and the end of DATA.
    srv = make_server(start=False, limits={"min_free_space": "0"})
    srv.state_dir = small_fs / "state"
    srv.start()
    with srv.session() as c:
        c.send_mail("someone@example.net", [ALICE], make_message(subject="before"))
    srv.wait_for_mail(ALICE)
    srv.wait_spool_empty()
    filler = fill(small_fs)
    with srv.session() as c:
        assert c.cmd("MAIL FROM:<someone@example.net>").code == 250
        assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
        r = c.data(make_message(subject="too late"))
        assert r.is_(451, "4.3.0"), r
        assert spool_leftovers(srv) == {"incoming": [], "active": [], "status": []}
        filler.unlink()
        assert c.cmd("RSET").code == 250
        c.send_mail("someone@example.net", [ALICE], make_message(subject="after"))
    srv.wait_for_mail(ALICE, 2)
    srv.wait_spool_empty()
    assert subjects_of(srv, ALICE) == ["Subject: after", "Subject: before"]
    srv.stop()


def test_low_space_answers_452_before_data(make_server, small_fs):
    srv = make_server(start=False, limits={"min_free_space": "2M"})
    srv.state_dir = small_fs / "state"
    srv.start()
    filler = fill(small_fs)
    with srv.session() as c:
        r = c.cmd("MAIL FROM:<someone@example.net>")
        assert r.is_(452, "4.3.1"), r
        filler.unlink()
        r = c.cmd("MAIL FROM:<someone@example.net>")
        assert r.code == 250, r
        assert c.cmd(f"RCPT TO:<{ALICE}>").code == 250
        assert c.data(make_message(subject="room again")).code == 250
    srv.wait_for_mail(ALICE)
    srv.stop()
