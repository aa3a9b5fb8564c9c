"""The fault shim (tests/faultshim/faultshim.c, built as build/libfaultshim.so) from the
integration tests: the environment that loads it into posthorn and tells it what to do.

    srv = make_server(start=False)
    srv.env = shim_env(srv.state_dir / "spool", control=srv.root / "faults")
    srv.start()
    set_faults(srv.root / "faults", "fsync EIO")   # every fsync under the spool fails
    set_faults(srv.root / "faults")                 # cleared
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from conftest import POSTHORN_BIN

SHIM = Path(os.environ.get("FAULTSHIM_LIB", POSTHORN_BIN.parent / "libfaultshim.so"))


def require_shim() -> Path:
    if not SHIM.is_file():
        pytest.fail(f"fault shim not found at {SHIM} (build it: ninja -C build faultshim)",
                    pytrace=False)
    return SHIM


def shim_env(prefix: Path, **settings) -> dict:
    """LD_PRELOAD of the shim watching `prefix`; settings become FAULTSHIM_<NAME> (crash_at=3,
    fail="fsync:EIO", fail_at=2, fail_count=0, kinds="write,fsync", control=path, log=path)."""
    env = {
        "LD_PRELOAD": str(require_shim()),
        "FAULTSHIM_PREFIX": str(prefix),
        # A sanitized build (make test-asan) must accept a preloaded library before its
        # runtime.
        "ASAN_OPTIONS": ":".join(x for x in (os.environ.get("ASAN_OPTIONS", ""),
                                              "verify_asan_link_order=0") if x),
    }
    for name, value in settings.items():
        env[f"FAULTSHIM_{name.upper()}"] = str(value)
    return env


def set_faults(control: Path, *lines: str) -> None:
    """Switches faults on ("fsync EIO", "write ENOSPC", "open EROFS", "rename EROFS") or,
    with no lines, off. The file is replaced atomically: the shim never reads half of it."""
    if not lines:
        control.unlink(missing_ok=True)
        return
    tmp = control.with_suffix(".tmp")
    tmp.write_text("".join(line + "\n" for line in lines))
    tmp.replace(control)
