"""Optional py-spy profile of a service during a load run (skipped when py-spy is absent).

`py-spy record --nonblocking -f raw` writes collapsed stacks ("frame;frame;... count");
we report the functions with the most samples on CPU, self and inclusive.
LCS_BENCH_PROFILE_RATE sets the samples per second (default 100; more to resolve small costs).
LCS_BENCH_PROFILE_NATIVE=1 records C frames too (`--native`; py-spy then pauses the process for
each sample, so rates are lower): what a Python frame's "self" time is spent on inside a C
extension or the kernel (a driver's `_do_execute` was mostly the socket `write`).
"""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import sys
from collections import Counter
from pathlib import Path


def py_spy() -> str | None:
    local = Path(sys.executable).parent / "py-spy"
    return str(local) if local.exists() else shutil.which("py-spy")


def options() -> list[str]:
    """py-spy's sampling options, as the environment asks (LCS_BENCH_PROFILE_RATE, _NATIVE)."""
    native = os.environ.get("LCS_BENCH_PROFILE_NATIVE") == "1"
    return ["-r", os.environ.get("LCS_BENCH_PROFILE_RATE", "100"), "--native" if native else "--nonblocking"]


async def record(pid: int, seconds: float, out: Path) -> asyncio.subprocess.Process | None:
    exe = py_spy()
    if exe is None:
        return None
    return await asyncio.create_subprocess_exec(
        exe, "record", "-p", str(pid), "-d", str(max(1, int(seconds))), *options(), "-f", "raw", "-o", str(out),
        stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL)


def keep(path: Path) -> None:
    """With LCS_BENCH_PROFILE_DIR set, keep the raw collapsed stacks there (for flame graphs or
    grep); the bench's own temporary directory is removed at the end."""
    target = os.environ.get("LCS_BENCH_PROFILE_DIR")
    if target and path.exists():
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(path, Path(target) / path.name)


_LINE = re.compile(r":\d+\)$")
_SITE = re.compile(r"\(.*?(site-packages|lib/python3\.\d+)/")


def _name(frame: str) -> str:
    frame = _LINE.sub(")", frame.strip())
    frame = _SITE.sub("(", frame)
    return frame.replace(str(Path(__file__).resolve().parents[1]) + "/", "")


def summarize(path: Path, top: int = 12) -> dict[str, object]:
    if not path.exists():
        return {}
    self_c: Counter[str] = Counter()
    incl: Counter[str] = Counter()
    total = 0
    for line in path.read_text(errors="replace").splitlines():
        stack, _, count_s = line.rpartition(" ")
        if not stack or not count_s.isdigit():
            continue
        n = int(count_s)
        frames = [_name(f) for f in stack.split(";") if f.strip()]
        frames = [f for f in frames if not f.startswith("process ") and not f.startswith("thread ")]
        if not frames:
            continue
        total += n
        self_c[frames[-1]] += n
        for f in set(frames):
            incl[f] += n
    interesting = [(f, c) for f, c in incl.most_common()
                   if any(k in f for k in ("services/", "shared/", "asyncpg", "pydantic", "fastapi", "starlette",
                                           "json", "aio_pika", "aiormq", "uvicorn", "httptools"))]
    return {"samples": total,
            "self": [(f, c / total) for f, c in self_c.most_common(top)] if total else [],
            "inclusive": [(f, c / total) for f, c in interesting[:top]] if total else []}
