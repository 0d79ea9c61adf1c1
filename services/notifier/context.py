"""What the notifier's routes, handlers, jobs and dispatcher share besides the pool and the
bus: the policy, the template renderer and the senders (with their HTTP client), built once
at start-up by `main.build_context`."""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Annotated

import httpx
from fastapi import Depends

from services.notifier.delivery.senders import EmailSender, SmsSender, WecomSender
from services.notifier.domain.links import TrackingLinks
from services.notifier.domain.recipients import NotifierConfig
from services.notifier.domain.vocabulary import Channel
from services.notifier.settings import NotifierSettings
from services.notifier.templates.renderer import TemplateRenderer
from shared.auth import DESK, Principal, require_roles
from shared.context import Runtime, runtime

SOURCE = "/lcs/notifier"  # the CloudEvents source of what the notifier publishes


@dataclass(frozen=True)
class NotifierContext:
    policy: NotifierConfig  # routing and retry policy, from the settings
    renderer: TemplateRenderer
    email: EmailSender
    sms: SmsSender
    wecom: WecomSender
    http: httpx.AsyncClient  # the SMS gateways' and robots' connection pool (closed by the dispatcher on shutdown)
    rng: random.Random  # the retry back-off's jitter
    # Signs the public tracking link of notices to shippers and consignees; None: no links.
    links: TrackingLinks | None = None

    def sender(self, channel: Channel) -> EmailSender | SmsSender | WecomSender:
        if channel is Channel.WECOM:
            return self.wecom
        return self.sms if channel is Channel.SMS else self.email


NotifierRuntime = Runtime[NotifierSettings, NotifierContext]
RuntimeDep = Annotated[NotifierRuntime, Depends(runtime)]

DeskPrincipal = Annotated[Principal, Depends(require_roles(*DESK))]
# Reads of the audit: the desk, and a branch for shipments touching its station.
DeskOrBranch = Annotated[Principal, Depends(require_roles(*DESK, "branch"))]
RecipientWriter = Annotated[Principal, Depends(require_roles("admin", "staff"))]
AdminPrincipal = Annotated[Principal, Depends(require_roles("admin"))]
