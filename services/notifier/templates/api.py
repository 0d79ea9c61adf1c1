"""Routes of the templates: the list, and a preview with given or sample data."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from services.notifier.context import DeskPrincipal, RuntimeDep
from services.notifier.recipients.api import ERRORS, NOT_FOUND
from services.notifier.templates import service
from services.notifier.templates.models import PreviewRead, PreviewRequest, TemplateRead
from shared.types import TemplateName

router = APIRouter(prefix="/v1", tags=["notifier"])


@router.get("/templates", response_model=list[TemplateRead], responses=ERRORS)
async def list_templates(rt: RuntimeDep, _: DeskPrincipal) -> list[TemplateRead]:
    return [TemplateRead(name=t.name, channel=t.channel, languages=[str(x) for x in t.languages])
            for t in service.list_templates(rt)]


@router.post("/templates/{name}/preview", response_model=PreviewRead, responses=NOT_FOUND,
             summary="Render a template with the given data, or with sample data")
async def preview_template(name: Annotated[TemplateName, Path()], body: PreviewRequest, rt: RuntimeDep,
                           _: DeskPrincipal) -> dict[str, Any]:
    return service.preview(rt, name=name, channel=body.channel, language=body.language, data=body.data)
