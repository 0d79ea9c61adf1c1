"""The WeChat Work (企业微信) group robot: a key account's group chat as a notifier channel.

A robot is reached by its webhook, ``<base>/cgi-bin/webhook/send?key=<key>``
(``LCS_WECOM_BASE_URL``, by default ``https://qyapi.weixin.qq.com``). The key is the robot's
only credential: whoever has it can post into the group, so it is a secret — stored as given
(the recipient's preferences), never logged whole, masked wherever it is shown.

* **The message**: ``{"msgtype": "markdown", "markdown": {"content": ...}}``; the content is
  at most ``MARKDOWN_MAX_BYTES`` (4096) bytes of UTF-8. A list too long for that is cut and
  says how many lines were left out (``fit_markdown``); nothing is ever sent over the limit.
* **The answer**: ``{"errcode": 0, "errmsg": "ok"}``. A non-zero errcode is a failure:
  ``45009`` (more than 20 messages a minute to one robot) and ``-1`` (the platform is busy) are
  transient — tried again, a rate-limited message no sooner than the robot's one-minute window
  (``RATE_LIMIT_RETRY_S``); any other code (``93000`` invalid webhook, a removed robot, a bad
  message) is permanent: repeating the request would not help.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from urllib.parse import parse_qs, urlsplit

MARKDOWN_MAX_BYTES = 4096
DEFAULT_BASE_URL = "https://qyapi.weixin.qq.com"
WEBHOOK_PATH = "/cgi-bin/webhook/send"

ERRCODE_OK = 0
ERRCODE_BUSY = -1
ERRCODE_RATE_LIMITED = 45009
# The robot allows 20 messages a minute: a rate-limited message waits for the next window.
RATE_LIMIT_RETRY_S = 60.0
TRANSIENT_ERRCODES = frozenset({ERRCODE_BUSY, ERRCODE_RATE_LIMITED})

# A robot key as WeChat Work issues it (a UUID today); bounded so that nothing else passes.
_KEY = re.compile(r"^[A-Za-z0-9-]{8,128}$")


class InvalidWebhook(ValueError):
    """A webhook URL that is not a group robot's under the configured base URL."""


def is_robot_key(value: str) -> bool:
    return bool(_KEY.match(value))


def webhook_key(url: str, base_url: str) -> str:
    """The robot key of a webhook URL, as the robot's settings page shows it
    (``https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=693a91f6-...``).

    Only a URL under ``base_url`` with the robot path is accepted: the notifier posts to what
    it is given, so an arbitrary URL would let a desk user make it call any address."""
    text = url.strip()
    base = urlsplit(base_url.rstrip("/"))
    try:
        parts = urlsplit(text)
    except ValueError as exc:  # e.g. "http://[": not a URL at all
        raise InvalidWebhook("the webhook is not a URL") from exc
    if (parts.scheme, parts.netloc) != (base.scheme, base.netloc) or parts.path != base.path + WEBHOOK_PATH:
        raise InvalidWebhook(f"a group robot webhook is {base_url.rstrip('/')}{WEBHOOK_PATH}?key=...")
    keys = parse_qs(parts.query).get("key", [])
    if len(keys) != 1 or not is_robot_key(keys[0]) or parts.fragment:
        raise InvalidWebhook("the webhook's key is missing or malformed")
    return keys[0]


def webhook_url(base_url: str, key: str) -> str:
    """Where a robot's messages go (the key is the secret part)."""
    return f"{base_url.rstrip('/')}{WEBHOOK_PATH}?key={key}"


def mask_key(key: str) -> str:
    """A robot key as the audit and the API show it: its first four characters."""
    return f"{key[:4]}****" if len(key) > 4 else "****"


def masked_webhook(base_url: str, key: str) -> str:
    """The webhook as ``GET /v1/recipients`` shows it: recognisable, not usable."""
    return webhook_url(base_url, mask_key(key))


def scrub(text: str, key: str) -> str:
    """``text`` (an error message) without the key in it."""
    return text.replace(key, mask_key(key)) if key else text


def markdown_bytes(text: str) -> int:
    return len(text.encode("utf-8"))


def fits(text: str) -> bool:
    return markdown_bytes(text) <= MARKDOWN_MAX_BYTES


def truncate_utf8(text: str, max_bytes: int = MARKDOWN_MAX_BYTES, ellipsis: str = "…") -> str:
    """At most ``max_bytes`` bytes of UTF-8, cut at a character boundary, ending in ``ellipsis``."""
    if markdown_bytes(text) <= max_bytes:
        return text
    budget = max_bytes - markdown_bytes(ellipsis)
    cut = text.encode("utf-8")[:max(budget, 0)].decode("utf-8", errors="ignore")
    return cut + ellipsis


def fit_markdown(render: Callable[[int | None], str], longest: int) -> str:
    """The longest rendering that fits the robot's limit.

    ``render(limit)`` renders the message with at most ``limit`` lines of each list in it
    (``None``: all of them; the template then says how many it left out); ``longest`` is the
    length of the longest list. Everything, when it fits; otherwise the most lines that fit
    (binary search: the length grows with ``limit``); when not even none fits (a huge free
    text), the shortest form cut at the limit."""
    whole = render(None)
    if fits(whole):
        return whole
    lo, hi, best = 0, max(longest - 1, 0), None
    while lo <= hi:
        mid = (lo + hi) // 2
        text = render(mid)
        if fits(text):
            best, lo = text, mid + 1
        else:
            hi = mid - 1
    return best if best is not None else truncate_utf8(render(0))


# Markdown that data must not be able to write into a group message (a consignee named
# "[点此退款](http://...)" must stay text): each is replaced by its full-width twin.
_MARKDOWN_SPECIALS = str.maketrans({"<": "＜", ">": "＞", "[": "［", "]": "］", "`": "'", "*": "＊", "#": "＃",
                                    "\r": " ", "\n": " "})


def markdown_text(value: object) -> str:
    """A value as inert text inside the robot's markdown (the templates' output filter)."""
    return str(value).translate(_MARKDOWN_SPECIALS)
