"""The daily volume (每天的货量): per station, what was registered, departed, arrived and delivered
in one business day — shipments, pieces, weight and volume.

A movement is one thing that happened to some pieces of a shipment at a station: its
registration (all its pieces, at the origin), a departure or arrival scan (a batch: a split
shipment leaves and arrives in several), a signed delivery. A stage's `shipments` counts each
waybill once however many batches it moved in; `pieces` adds the batches; weight and volume are
the waybill's, shared out by the pieces moved (3 of 10 pieces = 3/10 of its weight): the waybill
states them for the whole consignment only.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from shared.tabular import Column, ColumnType, columns


class Stage(StrEnum):
    REGISTERED = "registered"  # registered at its origin that day
    DEPARTED = "departed"  # left the station (the origin, or a transfer)
    ARRIVED = "arrived"  # reached the station (a transfer, or the destination)
    DELIVERED = "delivered"  # signed for at the destination


# How a scan type counts (`domain.scans.ScanType`); out_for_delivery moves nothing between stations.
SCAN_STAGES: dict[str, Stage] = {"departed": Stage.DEPARTED, "departed_transfer": Stage.DEPARTED,
                                 "arrived_transfer": Stage.ARRIVED, "arrived": Stage.ARRIVED}

# The sheet's columns (CSV and XLSX through `shared.tabular`): station, then each stage's four measures.
MEASURES: tuple[tuple[str, ColumnType], ...] = (("shipments", "int"), ("pieces", "int"), ("weight_kg", "number"),
                                               ("volume_m3", "number"))
SHEET_COLUMNS: tuple[Column, ...] = columns(
    "station", *((f"{stage.value}_{measure}", kind) for stage in Stage for measure, kind in MEASURES))
CSV_COLUMNS: tuple[str, ...] = tuple(c.key for c in SHEET_COLUMNS)


@dataclass(frozen=True, slots=True)
class Movement:
    stage: Stage
    station: str
    waybill_no: str
    pieces: int  # the pieces this movement moved
    pieces_total: int  # the waybill's pieces
    weight_kg: float | None = None  # the waybill's, whole
    volume_m3: float | None = None  # the waybill's, whole


@dataclass
class StageVolume:
    waybills: set[str] = field(default_factory=set)
    pieces: int = 0
    weight_kg: float = 0.0
    volume_m3: float = 0.0

    def add(self, m: Movement) -> None:
        self.waybills.add(m.waybill_no)
        self.pieces += m.pieces
        share = m.pieces / m.pieces_total if m.pieces_total > 0 else 1.0
        self.weight_kg += (m.weight_kg or 0.0) * share
        self.volume_m3 += (m.volume_m3 or 0.0) * share

    def out(self) -> dict[str, Any]:
        return {"shipments": len(self.waybills), "pieces": self.pieces, "weight_kg": round(self.weight_kg, 3),
                "volume_m3": round(self.volume_m3, 3)}


def daily_volume(movements: Iterable[Movement]) -> list[dict[str, Any]]:
    """One row per station that moved anything, by station code: each stage's shipments, pieces,
    weight_kg and volume_m3 (zeros for a stage with nothing)."""
    by_station: dict[str, dict[Stage, StageVolume]] = {}
    for m in movements:
        stages = by_station.setdefault(m.station, {s: StageVolume() for s in Stage})
        stages[m.stage].add(m)
    return [{"station": station, **{s.value: v.out() for s, v in stages.items()}}
            for station, stages in sorted(by_station.items())]


def csv_records(rows: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    """The rows flattened for the sheet (`SHEET_COLUMNS`: station, then registered_shipments ...)."""
    return [{"station": r["station"], **{f"{s.value}_{k}": v for s in Stage for k, v in r[s.value].items()}}
            for r in rows]
