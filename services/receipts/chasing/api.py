"""The admin's chase route: run the overdue chase now, or as if at `as_of`."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from services.receipts.chasing import service
from services.receipts.chasing.models import ChaseResult
from services.receipts.context import AdminPrincipal, RuntimeDep
from shared.clock import utcnow
from shared.types import Instant

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post("/admin/chase", response_model=ChaseResult)
async def run_chase(rt: RuntimeDep, principal: AdminPrincipal,
                    as_of: Annotated[Instant | None, Query(description="RFC 3339 with offset; default now")]
                    = None) -> dict[str, Any]:
    """Run the overdue chase now (or as if at `as_of`); returns what it emitted (each stage once, ever)."""
    return await service.chase(rt, as_of=as_of or utcnow())
