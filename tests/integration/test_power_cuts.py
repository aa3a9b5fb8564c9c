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


def test_the_checker_catches_a_missing_fsync(tmp_path):
    """The tool's own proof: with the fsync of spool/active before the 250 taken out of the
    recorded trace, the durable state after the 250 has lost the message, and the tool
    says so."""
    problem = alice.self_test(require_binary(), tmp_path / "alice")
    assert problem is not None and "acknowledged but not delivered" in problem, problem
