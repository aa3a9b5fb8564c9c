"""Crash torture, short run (issue 13): tests/torture/torture.py with 50 kills. Every
message that got a 250 must reach each of its recipients (Maildirs and the relay peer),
nothing may be corrupt, and the queue must drain. `make torture` is the long run."""

import sys
from pathlib import Path

from conftest import require_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "torture"))

import torture  # noqa: E402


def test_fifty_kills_under_load_lose_nothing(tmp_path, capsys):
    res = torture.run(require_binary(), kills=50, clients=4, seed=1313,
                      workdir=tmp_path / "torture", max_uptime=0.6)
    assert res["acknowledged"] > 0, res
    assert res["lost"] == 0, res
    assert res["spool_corrupt"] == 0, res
    assert res["maildir_truncated"] == 0 and res["peer_truncated"] == 0, res
    assert res["spool_active_left"] == 0 and res["spool_incoming_left"] == 0, res
