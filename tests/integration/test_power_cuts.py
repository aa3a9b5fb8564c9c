"""Power cuts, short version (issue 13): tests/alice/alice.py records one message's life
with strace and checks recovery on the prefix and durable-only states at every sync and
every 250. `make alice` runs the full set (drop-one, reorderings, torn writes)."""

import shutil
import sys
from pathlib import Path

import pytest

from conftest import require_binary

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "alice"))

import alice  # noqa: E402


def test_power_cut_states_keep_every_acknowledged_message(tmp_path):
    if shutil.which("strace") is None:
        pytest.fail("strace is not installed (scripts/bootstrap installs it)", pytrace=False)
    res = alice.run(require_binary(), full=False, keep=tmp_path / "alice")
    assert res["kinds"].get("fsync", 0) > 0 and res["kinds"].get("ack", 0) == 1, res["kinds"]
    bad = [r for r in res["results"] if r["problem"]]
    assert not bad, "\n".join(f"crash after #{r['point']} ({r['after']}), {r['state']}: "
                              f"{r['problem']}" for r in bad)
