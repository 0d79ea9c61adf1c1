"""`python -m shared.migrate <service>|all` — apply migrations and exit (a Kubernetes Job)."""

from __future__ import annotations

import argparse
import asyncio
import importlib
from pathlib import Path

from shared.db import migrate, migrations_for
from shared.logs import configure_logging
from shared.settings import DEFAULT_PORTS, Settings

SERVICES = tuple(DEFAULT_PORTS)


def service_dir(service: str) -> Path:
    module = importlib.import_module(f"services.{service}")
    assert module.__file__ is not None
    return Path(module.__file__).parent


async def migrate_services(settings: Settings, services: tuple[str, ...]) -> dict[str, list[str]]:
    return {s: await migrate(settings.database_url, s, migrations_for(service_dir(s))) for s in services}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m shared.migrate", description=__doc__)
    parser.add_argument("service", choices=[*SERVICES, "all"])
    args = parser.parse_args(argv)
    settings = Settings()
    configure_logging("migrate", settings.log_level)
    services = SERVICES if args.service == "all" else (args.service,)
    asyncio.run(migrate_services(settings, services))


if __name__ == "__main__":
    main()
