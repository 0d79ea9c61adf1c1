"""Response models of the day's reports."""

from __future__ import annotations

from datetime import date

from pydantic import BaseModel, Field


class NotesRow(BaseModel):
    actor: str = Field(description="as the notes record it: role:subject, e.g. staff:xiaoli")
    notes: int = Field(description="tracking notes (追踪记录) written that day")
    waybills: int = Field(description="distinct waybills they were about")


class NotesReport(BaseModel):
    date: date
    rows: list[NotesRow]


class StageVolumeOut(BaseModel):
    shipments: int
    pieces: int
    weight_kg: float
    volume_m3: float


class VolumeRow(BaseModel):
    station: str
    registered: StageVolumeOut
    departed: StageVolumeOut
    arrived: StageVolumeOut
    delivered: StageVolumeOut


class DailyVolume(BaseModel):
    date: date
    rows: list[VolumeRow]
