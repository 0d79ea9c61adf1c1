"""The machine's description for the report."""

from __future__ import annotations

import os
import platform
import subprocess
from datetime import UTC, datetime

import asyncpg


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _memory() -> str:
    try:
        with open("/proc/meminfo") as f:
            for line in f:
                if line.startswith("MemTotal"):
                    return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    except OSError:
        pass
    return "unknown"


def _rabbitmq_version() -> str:
    try:
        out = subprocess.run(["rabbitmqctl", "-q", "version"], capture_output=True, text=True, timeout=30,  # noqa: S607
                             check=False).stdout.strip()
        return out or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


async def describe(admin_db_url: str) -> dict[str, str]:
    conn = await asyncpg.connect(admin_db_url)
    try:
        pg = await conn.fetchval("SHOW server_version")
    finally:
        await conn.close()
    load = os.getloadavg()
    return {
        "CPU": _cpu_model(),
        "Cores": str(os.cpu_count()),
        "Memory": _memory(),
        "OS": f"{platform.system()} {platform.release()}",
        "Python": platform.python_version(),
        "PostgreSQL": str(pg),
        "RabbitMQ": _rabbitmq_version(),
        "Date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "Load average at start (1/5/15 min)": " / ".join(f"{x:.2f}" for x in load),
    }
