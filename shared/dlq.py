"""Operate a service's dead-letter queue: look at it, replay it, purge it.

    python -m shared.dlq list <service> [--peek N]
    python -m shared.dlq replay <service> [--limit N] [--type T] [--dry-run]
    python -m shared.dlq purge <service> --yes

The broker comes from `LCS_AMQP_URL` (the service's own settings; `LCS_ENV=dev` allows
the default secrets, which this tool never uses anyway).

Replay moves messages from `<service>.dlq` back into the service's queue `<service>`
through the default exchange (so only that service sees them again, not every
subscriber of the topic), with `x-lcs-attempt` reset so the message gets the full
retry path again. Each republish is confirmed by the broker before the DLQ copy is
acked: a crash in between leaves the message in both queues, never in none, and the
consumer's inbox makes the extra copy harmless (at-least-once, exactly-once in effect).

Reading a queue without consuming it: messages are fetched unacknowledged and returned
when the channel closes. RabbitMQ 4.x counts only explicit rejects towards a quorum
queue's delivery limit, not returns on channel close, so `list` never pushes a dead
letter closer to being dropped.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import aio_pika
from aio_pika.abc import AbstractChannel, AbstractConnection, AbstractIncomingMessage, AbstractQueue

from shared.bus import ATTEMPT_HEADER, ERROR_HEADER, ROUTING_KEY_HEADER
from shared.events import CONTENT_TYPE

SCAN_LIMIT = 10_000  # `list` summarises at most this many messages (a sample of a huge DLQ)
DROPPED_ON_REPLAY = (ERROR_HEADER, "x-death", "x-lcs-dead-lettered-at", "x-delivery-count")


class DlqError(RuntimeError):
    """A problem the operator must see (missing queue, broker refusal)."""


def dlq_name(service: str) -> str:
    return f"{service}.dlq"


def _reason_key(error: object) -> str:
    """Group reasons: the part before the first ':' or ';' (an exception name, `malformed`,
    `handler failed 4 times`), so ten thousand ids do not make ten thousand groups."""
    text = str(error) if error is not None else "(no x-lcs-error header)"
    for sep in (";", ":"):
        text = text.split(sep, 1)[0]
    return text.strip()[:120] or "(empty)"


def event_type_of(message: AbstractIncomingMessage) -> str:
    """The event type: the AMQP `type` property, else the original routing key, else the body."""
    if message.type:
        return str(message.type)
    headers = message.headers or {}
    key = headers.get(ROUTING_KEY_HEADER)
    if key:
        return key.decode() if isinstance(key, bytes) else str(key)
    try:
        body = json.loads(message.body)
    except ValueError:
        return "(unparseable)"
    return str(body.get("type", "(unknown)")) if isinstance(body, dict) else "(unknown)"


def _header_text(value: object) -> str:
    return value.decode(errors="replace") if isinstance(value, bytes) else str(value)


@dataclass
class DlqSummary:
    service: str
    queue: str
    count: int
    scanned: int = 0
    by_reason: Counter[str] = field(default_factory=Counter)
    by_type: Counter[str] = field(default_factory=Counter)
    peek: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class ReplayResult:
    replayed: int = 0
    skipped: int = 0
    ids: list[str] = field(default_factory=list)


async def _connect(url: str) -> AbstractConnection:
    return await aio_pika.connect(url, timeout=10)


async def _passive(channel: AbstractChannel, name: str) -> AbstractQueue:
    try:
        return await channel.declare_queue(name, passive=True)
    except aio_pika.exceptions.ChannelClosed as exc:
        raise DlqError(f"queue {name!r} does not exist in this vhost (has the service ever started?)") from exc


async def list_dlq(url: str, service: str, *, peek: int = 5, scan_limit: int = SCAN_LIMIT) -> DlqSummary:
    """Count the DLQ, summarise reasons and types, and show the first `peek` messages."""
    connection = await _connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await _passive(channel, dlq_name(service))
        count = queue.declaration_result.message_count or 0
        summary = DlqSummary(service=service, queue=dlq_name(service), count=count)
        # Unacked gets; all of them go back when the channel closes below.
        for _ in range(min(count, scan_limit)):
            message = await queue.get(no_ack=False, fail=False, timeout=10)
            if message is None:
                break
            headers = message.headers or {}
            summary.scanned += 1
            summary.by_reason[_reason_key(_header_text(headers.get(ERROR_HEADER)))] += 1
            summary.by_type[event_type_of(message)] += 1
            if len(summary.peek) < peek:
                summary.peek.append({
                    "message_id": message.message_id,
                    "type": event_type_of(message),
                    "error": _header_text(headers.get(ERROR_HEADER, "")),
                    "attempt": headers.get(ATTEMPT_HEADER),
                    "dead_lettered_at": _header_text(headers.get("x-lcs-dead-lettered-at", "")),
                    "body": message.body[:500].decode(errors="replace"),
                })
        await channel.close()
    return summary


async def replay(url: str, service: str, *, limit: int | None = None, type_: str | None = None,
                 dry_run: bool = False, confirm_timeout: float = 10.0) -> ReplayResult:
    """Move up to `limit` messages (of type `type_`, if given) from `<service>.dlq` to `<service>`."""
    result = ReplayResult()
    connection = await _connect(url)
    async with connection:
        # on_return_raises: a returned (unroutable) message fails its publish instead of vanishing
        channel = await connection.channel(publisher_confirms=True, on_return_raises=True)
        dlq = await _passive(channel, dlq_name(service))
        await _passive(channel, service)  # the target must exist: never publish into the void
        # Look at each message present now at most once: skipped ones stay unacked until
        # the channel closes, and messages dead-lettered meanwhile wait for the next run.
        budget = dlq.declaration_result.message_count or 0
        for _ in range(budget):
            if limit is not None and result.replayed >= limit:
                break
            message = await dlq.get(no_ack=False, fail=False, timeout=10)
            if message is None:
                break
            if type_ is not None and event_type_of(message) != type_:
                result.skipped += 1
                continue
            if dry_run:
                result.replayed += 1
                result.ids.append(str(message.message_id))
                continue
            headers = {k: v for k, v in (message.headers or {}).items() if k not in DROPPED_ON_REPLAY}
            headers[ATTEMPT_HEADER] = 0
            headers["x-lcs-replayed-at"] = datetime.now(UTC).isoformat()
            republished = aio_pika.Message(
                message.body, headers=headers, message_id=message.message_id, type=message.type,
                content_type=message.content_type or CONTENT_TYPE, timestamp=message.timestamp,
                delivery_mode=aio_pika.DeliveryMode.PERSISTENT, app_id="lcs-dlq-replay",
            )
            try:
                await channel.default_exchange.publish(republished, routing_key=service, mandatory=True,
                                                       timeout=confirm_timeout)
            except Exception as exc:
                # not confirmed: leave it in the DLQ (returned when the channel closes)
                raise DlqError(f"republish of {message.message_id} not confirmed: {exc!r}; "
                               f"{result.replayed} replayed before it") from exc
            await message.ack()
            result.replayed += 1
            result.ids.append(str(message.message_id))
        await channel.close()
    return result


async def purge(url: str, service: str) -> int:
    connection = await _connect(url)
    async with connection:
        channel = await connection.channel()
        queue = await _passive(channel, dlq_name(service))
        purged = await queue.purge()
        return int(purged.message_count or 0)


def _print_summary(s: DlqSummary) -> None:
    print(f"{s.queue}: {s.count} message(s)")
    if s.scanned and s.scanned < s.count:
        print(f"(summary of the first {s.scanned})")
    if s.by_reason:
        print("by reason:")
        for reason, n in s.by_reason.most_common():
            print(f"  {n:>7}  {reason}")
        print("by type:")
        for type_, n in s.by_type.most_common():
            print(f"  {n:>7}  {type_}")
    for i, m in enumerate(s.peek, start=1):
        print(f"--- {i}: id={m['message_id']} type={m['type']} attempt={m['attempt']} "
              f"dead-lettered at {m['dead_lettered_at'] or '?'}")
        print(f"    error: {m['error']}")
        print(f"    body:  {m['body']}")


def _amqp_url(explicit: str | None) -> str:
    if explicit:
        return explicit
    from pydantic import ValidationError

    from shared.settings import Settings
    try:
        return Settings().amqp_url
    except ValidationError as exc:
        raise DlqError(f"settings refused ({exc.errors()[0].get('msg', exc)}); set the service's LCS_* "
                       "secrets, or LCS_ENV=dev on a development machine, or pass --amqp-url") from exc


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m shared.dlq", description=__doc__.split("\n\n")[0])
    parser.add_argument("--amqp-url", help="default: LCS_AMQP_URL from the settings")
    sub = parser.add_subparsers(dest="command", required=True)
    p_list = sub.add_parser("list", help="count, reasons and the first messages of <service>.dlq")
    p_list.add_argument("service")
    p_list.add_argument("--peek", type=int, default=5, help="messages to show (default 5)")
    p_list.add_argument("--json", action="store_true", help="machine-readable output")
    p_replay = sub.add_parser("replay", help="move messages from <service>.dlq back to <service>")
    p_replay.add_argument("service")
    p_replay.add_argument("--limit", type=int, default=None, help="at most N messages")
    p_replay.add_argument("--type", dest="type_", default=None, help="only events of this type")
    p_replay.add_argument("--dry-run", action="store_true", help="count what would be replayed")
    p_purge = sub.add_parser("purge", help="delete every message in <service>.dlq")
    p_purge.add_argument("service")
    p_purge.add_argument("--yes", action="store_true", help="required: purging cannot be undone")
    args = parser.parse_args(argv)

    if args.command == "purge" and not args.yes:
        print("refusing to purge without --yes (the messages are lost for good)", file=sys.stderr)
        return 2
    if args.command == "replay" and args.limit is not None and args.limit < 0:
        parser.error("--limit must be >= 0")
    try:
        url = _amqp_url(args.amqp_url)
        if args.command == "list":
            summary = asyncio.run(list_dlq(url, args.service, peek=max(0, args.peek)))
            if args.json:
                print(json.dumps({"queue": summary.queue, "count": summary.count, "scanned": summary.scanned,
                                  "by_reason": dict(summary.by_reason), "by_type": dict(summary.by_type),
                                  "peek": summary.peek}, ensure_ascii=False, default=str))
            else:
                _print_summary(summary)
        elif args.command == "replay":
            result = asyncio.run(replay(url, args.service, limit=args.limit, type_=args.type_,
                                        dry_run=args.dry_run))
            verb = "would replay" if args.dry_run else "replayed"
            print(f"{verb} {result.replayed} message(s) from {dlq_name(args.service)} to {args.service}"
                  + (f"; {result.skipped} of other types left in place" if result.skipped else ""))
        else:
            n = asyncio.run(purge(url, args.service))
            print(f"purged {n} message(s) from {dlq_name(args.service)}")
    except DlqError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
