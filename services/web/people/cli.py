"""`python -m services.web users ...`: manage desk accounts from a shell.

    users add --username U --role R [--branch B] [--customer C] [--display-name N] [--password-stdin]
    users disable U
    users password U [--password-stdin]      (a new password; also unlocks and re-enables)
    users list

Without `--password-stdin` a password is generated and printed once.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
from typing import Any

from argon2 import PasswordHasher
from pydantic import ValidationError

from services.web.people import repository, service
from services.web.people.models import ROLES
from services.web.settings import WebSettings
from shared.context import Runtime
from shared.db import create_pool, migrate, migrations_for
from shared.errors import DomainError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m services.web users")
    sub = parser.add_subparsers(dest="command", required=True)
    add = sub.add_parser("add", help="create an account")
    add.add_argument("--username", required=True)
    add.add_argument("--role", required=True, choices=ROLES)
    add.add_argument("--branch")
    add.add_argument("--customer")
    add.add_argument("--display-name")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    add.add_argument("--if-missing", action="store_true", help="do nothing (exit 0) when the user exists")
    disable = sub.add_parser("disable", help="disable an account (its sessions end at once)")
    disable.add_argument("username")
    password = sub.add_parser("password", help="set a new password (unlocks and enables the account)")
    password.add_argument("username")
    password.add_argument("--password-stdin", action="store_true")
    sub.add_parser("list", help="list accounts")
    return parser


def _password(from_stdin: bool) -> tuple[str, bool]:
    if from_stdin:
        return sys.stdin.readline().rstrip("\n"), False
    return service.new_password(), True


async def _run(args: argparse.Namespace, settings: WebSettings) -> int:
    from services.web import main as web_main

    await migrate(settings.database_url, "web", migrations_for(web_main.HERE))
    pool = await create_pool(settings.database_url, "web", min_size=1, max_size=2, application="lcs-web-cli")
    ctx: Any = type("CliContext", (), {"hasher": PasswordHasher()})()
    rt: Runtime[WebSettings, Any] = Runtime(service="web", settings=settings, pool=pool, context=ctx)
    try:
        if args.command == "add":
            if args.if_missing and await repository.account_by_username(pool, args.username) is not None:
                print(f"user {args.username} exists")
                return 0
            password, generated = _password(args.password_stdin)
            await service.add_account(rt, account=service.NewAccount(
                username=args.username, role=args.role, display_name=args.display_name, branch=args.branch,
                customer=args.customer), password=password)
            print(f"added {args.username} ({args.role})")
            if generated:
                print(f"password: {password}")
        elif args.command == "disable":
            await service.disable_account(rt, username=args.username)
            print(f"disabled {args.username}")
        elif args.command == "password":
            password, generated = _password(args.password_stdin)
            await service.reset_password(rt, username=args.username, password=password)
            print(f"new password set for {args.username}")
            if generated:
                print(f"password: {password}")
        elif args.command == "list":
            for a in await repository.list_accounts(pool):
                print(f"{a['username']:<20} {a['role']:<10} {a['branch'] or a['customer'] or '':<10} "
                      f"{'disabled' if a['disabled'] else ''}")
        return 0
    except DomainError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 1
    finally:
        await pool.close()


def main(argv: list[str]) -> int:
    args = _parser().parse_args(argv)
    try:
        settings = WebSettings()
    except ValidationError as exc:
        print(f"error: {'; '.join(e['msg'] for e in exc.errors())}", file=sys.stderr)
        return 2
    return asyncio.run(_run(args, settings))
