"""Run the whole system as separate processes: the four services and the sinks.

`python -m shared.devtools.stack run` is what `make run` starts: demo defaults,
overridden by whatever `LCS_*` settings are already in the environment. Tests and
the fault suite use `Stack` to start, stop, kill and restart single services.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import httpx

from shared.auth import issue_token
from shared.settings import DEFAULT_PORTS, DEV_SECRET

SERVICES = tuple(DEFAULT_PORTS)
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class Proc:
    name: str
    args: list[str]
    env: dict[str, str]
    port: int
    log_path: Path
    popen: subprocess.Popen[bytes] | None = None
    _log: IO[bytes] | None = None

    def start(self) -> None:
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - lives as long as the process
        self.popen = subprocess.Popen(  # noqa: S603 - our own interpreter and module
            self.args, env=self.env, stdout=self._log, stderr=subprocess.STDOUT, cwd=ROOT)

    def signal(self, sig: int) -> None:
        if self.popen is not None and self.popen.poll() is None:
            self.popen.send_signal(sig)

    def wait(self, timeout: float) -> int | None:
        if self.popen is None:
            return None
        try:
            return self.popen.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, timeout: float = 30) -> int | None:
        self.signal(signal.SIGTERM)
        code = self.wait(timeout)
        if code is None:
            self.signal(signal.SIGKILL)
            code = self.wait(5)
        if self._log is not None:
            self._log.close()
            self._log = None
        return code

    @property
    def running(self) -> bool:
        return self.popen is not None and self.popen.poll() is None


@dataclass
class Stack:
    """The services and sinks as processes with their own ports, database and vhost."""

    env: dict[str, str]
    log_dir: Path
    ports: dict[str, int] = field(default_factory=dict)
    procs: dict[str, Proc] = field(default_factory=dict)

    @classmethod
    def with_free_ports(cls, env: dict[str, str], log_dir: Path) -> Stack:
        ports = {name: free_port() for name in (*SERVICES, "smtp", "sinks")}
        return cls(env=env, log_dir=log_dir, ports=ports)

    def url(self, name: str) -> str:
        return f"http://127.0.0.1:{self.ports[name]}"

    def service_env(self, name: str, **overrides: str) -> dict[str, str]:
        env = {**os.environ, **self.env}
        env.setdefault("LCS_SMTP_HOST", "127.0.0.1")
        env.setdefault("LCS_SMTP_PORT", str(self.ports["smtp"]))
        env.setdefault("LCS_SMS_URL", f"{self.url('sinks')}/sms")
        env.setdefault("LCS_SMS_FALLBACK_URL", f"{self.url('sinks')}/fallback/sms")
        env.setdefault("LCS_WECOM_BASE_URL", f"{self.url('sinks')}/wecom")
        env["LCS_PORT"] = str(self.ports[name])
        env["PYTHONUNBUFFERED"] = "1"
        if name == "notifier":  # notices link to this stack's public tracking page
            env.setdefault("LCS_PUBLIC_BASE_URL", self.url("web"))
        if name == "web":  # the desk calls the four backends of this stack
            for backend in ("tracking", "receipts", "complaints", "notifier"):
                env.setdefault(f"LCS_{backend.upper()}_URL", self.url(backend))
        env.update(overrides)
        return env

    def add_service(self, name: str, *, instance: str | None = None, **overrides: str) -> Proc:
        key = instance or name
        port = self.ports.setdefault(key, free_port())
        env = self.service_env(name, **overrides)
        env["LCS_PORT"] = str(port)
        proc = Proc(key, [sys.executable, "-m", f"services.{name}"], env, port, self.log_dir / f"{key}.log")
        self.procs[key] = proc
        return proc

    def start_sinks(self) -> None:
        proc = Proc("sinks", [sys.executable, "-m", "shared.devtools.sinks", "--smtp-port",
                              str(self.ports["smtp"]), "--http-port", str(self.ports["sinks"])],
                    {**os.environ, "PYTHONUNBUFFERED": "1"}, self.ports["sinks"], self.log_dir / "sinks.log")
        self.procs["sinks"] = proc
        proc.start()
        self.wait_http("sinks", "/livez")

    def start(self, names: tuple[str, ...] = SERVICES, *, sinks: bool = True) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        if sinks:
            self.start_sinks()
        for name in names:
            self.add_service(name).start()
        for name in names:
            self.wait_http(name, "/readyz")

    def start_proc(self, key: str) -> None:
        self.procs[key].start()
        self.wait_http(key, "/readyz")

    def wait_http(self, key: str, path: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            proc = self.procs.get(key)
            if proc is not None and proc.popen is not None and proc.popen.poll() is not None:
                raise RuntimeError(f"{key} exited with {proc.popen.returncode}; see {proc.log_path}")
            try:
                r = httpx.get(f"http://127.0.0.1:{self.ports[key]}{path}", timeout=2)
                if r.status_code == 200:
                    return
                last = r.text
            except httpx.HTTPError as exc:
                last = repr(exc)
            time.sleep(0.2)
        raise TimeoutError(f"{key} not ready after {timeout}s: {last}")

    def stop(self) -> None:
        for proc in reversed(list(self.procs.values())):
            proc.stop()


# --- database and vhost helpers (tests make their own and remove them) -----------------

def with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


def with_vhost(url: str, vhost: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{vhost}"))


async def create_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(admin_url, "postgres"))
    try:
        exists = await conn.fetchval("SELECT 1 FROM pg_database WHERE datname = $1", name)
        if not exists:
            await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()


async def drop_database(admin_url: str, name: str) -> None:
    conn = await asyncpg.connect(with_database(admin_url, "postgres"))
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


def rabbitmqctl(*args: str) -> None:
    subprocess.run(["rabbitmqctl", "-q", *args], check=True, capture_output=True, timeout=60)  # noqa: S603, S607


def create_vhost(name: str, user: str = "guest") -> None:
    rabbitmqctl("add_vhost", name)
    rabbitmqctl("set_permissions", "-p", name, user, ".*", ".*", ".*")


def delete_vhost(name: str) -> None:
    with contextlib.suppress(subprocess.CalledProcessError):
        rabbitmqctl("delete_vhost", name)


# --- make run ---------------------------------------------------------------------------

DEMO_ENV = {
    "LCS_ENV": "dev",
    "LCS_DATABASE_URL": "postgresql://postgres@127.0.0.1:5432/lcs",
    "LCS_AMQP_URL": "amqp://guest:guest@127.0.0.1:5672/",
}
# The supervisor's mailbox when the SMTP sink takes the mail: SLA breaches land at /emails.
DEV_SUPERVISOR_EMAIL = "supervisor@lcs.example.com"


@dataclass(frozen=True)
class OutsideWorld:
    """Where `make run` sends e-mail and SMS: the sinks, or what the environment overrides."""

    env: dict[str, str]  # settings to add to the services' environment
    own_sinks: bool  # whether the stack starts the sinks (for whichever of SMTP and SMS is not overridden)
    lines: list[str]  # what the start-up banner says about it


def outside_world(env: dict[str, str], sinks_url: str, smtp_port: int) -> OutsideWorld:
    """The demo's SMTP, SMS gateways and supervisor mailbox, from the `LCS_*` settings given.

    * SMTP not overridden (`LCS_SMTP_HOST`): the SMTP sink, and a supervisor mailbox on it
      unless `LCS_SUPERVISOR_EMAIL` is set, so SLA breaches have somewhere to go;
    * SMS not overridden (`LCS_SMS_URL`): the sink's gateway and its fallback gateway;
    * `LCS_SMS_URL` overridden: the fallback is `LCS_SMS_FALLBACK_URL` if given, otherwise off.
    * WeChat Work group robots: under the sinks' `/wecom` while the stack runs its own sinks, unless
      `LCS_WECOM_BASE_URL` says otherwise (a demo never posts into a real group by accident).
      It is not guessed from the primary (a wrong guess answers 404, a permanent failure, where
      a transient failure of the primary would have been retried), nor left pointing at the
      sinks, which are no gateway of that primary's.
    """
    smtp_overridden = "LCS_SMTP_HOST" in env
    sms_overridden = "LCS_SMS_URL" in env
    extra: dict[str, str] = {}
    lines: list[str] = []
    if smtp_overridden:
        extra.setdefault("LCS_SMTP_PORT", env.get("LCS_SMTP_PORT", "25"))  # the setting's default, not the sink's
        lines.append(f"e-mail      {env['LCS_SMTP_HOST']}:{extra['LCS_SMTP_PORT']} (LCS_SMTP_HOST)")
    else:
        lines.append(f"e-mail      the SMTP sink on 127.0.0.1:{smtp_port}, read at {sinks_url}/emails")
    if env.get("LCS_SUPERVISOR_EMAIL"):
        lines.append(f"supervisor  {env['LCS_SUPERVISOR_EMAIL']} (LCS_SUPERVISOR_EMAIL)")
    elif not smtp_overridden:
        extra["LCS_SUPERVISOR_EMAIL"] = DEV_SUPERVISOR_EMAIL
        lines.append(f"supervisor  {DEV_SUPERVISOR_EMAIL} (on the SMTP sink)")
    else:
        lines.append("supervisor  none (LCS_SUPERVISOR_EMAIL unset): SLA breaches are stored failed, no_recipient")
    if not sms_overridden:
        fallback = env.get("LCS_SMS_FALLBACK_URL", f"{sinks_url}/fallback/sms")
        lines.append(f"sms         {sinks_url}/sms, fallback {fallback}")
    elif env.get("LCS_SMS_FALLBACK_URL"):
        lines.append(f"sms         {env['LCS_SMS_URL']}, fallback {env['LCS_SMS_FALLBACK_URL']} (LCS_SMS_FALLBACK_URL)")
    else:
        extra["LCS_SMS_FALLBACK_URL"] = ""  # off: not the sinks' fallback of the stack's own gateway
        lines.append(f"sms         {env['LCS_SMS_URL']}, no fallback (LCS_SMS_URL is overridden; "
                     f"set LCS_SMS_FALLBACK_URL for one)")
    own_sinks = not (smtp_overridden and sms_overridden)
    if env.get("LCS_WECOM_BASE_URL"):
        lines.append(f"wecom       {env['LCS_WECOM_BASE_URL']} (LCS_WECOM_BASE_URL)")
    elif own_sinks:
        extra["LCS_WECOM_BASE_URL"] = f"{sinks_url}/wecom"
        lines.append(f"wecom       group robots on {sinks_url}/wecom, read at {sinks_url}/wecom")
    else:
        lines.append("wecom       https://qyapi.weixin.qq.com (the real group robots; LCS_WECOM_BASE_URL unset)")
    return OutsideWorld(env=extra, own_sinks=own_sinks, lines=lines)


def run_demo() -> None:
    env = {**DEMO_ENV, **{k: v for k, v in os.environ.items() if k.startswith("LCS_")}}
    db_url = env["LCS_DATABASE_URL"]
    database = urlsplit(db_url).path.lstrip("/") or "lcs"
    asyncio.run(create_database(db_url, database))
    ports = {**DEFAULT_PORTS, "smtp": int(os.environ.get("LCS_DEMO_SMTP_PORT", "1025")),
             "sinks": int(os.environ.get("LCS_DEMO_SINKS_PORT", "8025"))}
    log_dir = ROOT / ".run"
    world = outside_world(env, f"http://127.0.0.1:{ports['sinks']}", ports["smtp"])
    stack = Stack(env={**env, **world.env}, log_dir=log_dir, ports=ports)
    stop = {"now": False}

    def on_signal(*_: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    try:
        stack.start(sinks=world.own_sinks)
        secret = env.get("LCS_AUTH_SECRET", DEV_SECRET)
        admin = issue_token(secret, sub="demo-admin", role="admin", ttl_seconds=7 * 24 * 3600)
        print("\nlcs is running:")
        for name in SERVICES:
            print(f"  {name:<11} {stack.url(name)}   (OpenAPI: {stack.url(name)}/docs)")
        if world.own_sinks:
            print(f"  sinks       {stack.url('sinks')}/emails and /sms   (SMTP on 127.0.0.1:{ports['smtp']})")
        for line in world.lines:
            print(f"  {line}")
        print(f"  logs        {log_dir}/<service>.log")
        desk_password = ensure_desk_admin(stack.service_env("web"))
        print(f"\nthe CS desk: {stack.url('web')}/desk/   sign in as admin"
              + (f", password: {desk_password}" if desk_password else " (password as printed on first run; "
                 "reset: python -m services.web users password admin)"))
        print(f"public tracking: {stack.url('web')}/track   (no sign-in; notices to shippers and consignees "
              "link to it)")
        print(f"\nadmin token (7 days):\n  export TOKEN={admin}\n\nCtrl-C stops everything.", flush=True)
        while not stop["now"]:
            for proc in stack.procs.values():
                if not proc.running:
                    print(f"{proc.name} exited; see {proc.log_path}", file=sys.stderr)
                    stop["now"] = True
            time.sleep(0.5)
    finally:
        print("\nstopping ...", flush=True)
        stack.stop()


def ensure_desk_admin(env: dict[str, str]) -> str | None:
    """Creates the desk's dev account `admin` once; its generated password, or None if it existed."""
    out = subprocess.run([sys.executable, "-m", "services.web", "users", "add", "--username", "admin",
                          "--role", "admin", "--display-name", "管理员", "--if-missing"],
                         env=env, cwd=ROOT, capture_output=True, text=True, timeout=120, check=False)
    for line in out.stdout.splitlines():
        if line.startswith("password: "):
            return line.removeprefix("password: ")
    if out.returncode != 0:
        print(f"could not create the desk user admin: {out.stderr.strip()}", file=sys.stderr)
    return None


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.devtools.stack")
    parser.add_argument("command", choices=["run"])
    parser.parse_args()
    run_demo()


if __name__ == "__main__":
    main()
