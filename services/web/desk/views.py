"""Turning backend answers into what the templates show (pure: no I/O)."""

from __future__ import annotations

import json
from typing import Any

from services.web.desk.parts import Part
from services.web.domain.desk import open_exceptions, parse_time


def timeline_entries(shipment: Part, notifications: Part | None = None) -> list[dict[str, Any]]:
    """Scans, delays, notes, exceptions and deliveries from tracking, with the notices the
    notifier sent about the waybill, in time order (oldest first); an exception still open is
    marked `open` (the page offers to resolve it)."""
    entries: list[dict[str, Any]] = []
    if shipment.ok:
        timeline = shipment.data.get("timeline", [])
        still_open = {x["id"] for x in open_exceptions(shipment.data.get("waybill_no", ""), timeline)}
        entries += [{"at": e["at"], "kind": e["kind"], "data": e.get("data") or {},
                     "open": str((e.get("data") or {}).get("exception_id")) in still_open}
                    for e in timeline]
    if notifications is not None and notifications.ok:
        for n in notifications.data.get("items", []):
            entries.append({"at": n.get("sent_at") or n["created_at"], "kind": "notice", "data": n})
    return sorted(entries, key=lambda e: str(parse_time(e["at"]) or ""))


def map_data(shipment: Part, stations: Part, tile_url: str | None, attribution: str,
             track: Part | None = None) -> str:
    """What map.js draws, as JSON for a data attribute (escaped by the template): the route's
    stations, the vehicle's recent track (oldest first, tracking's `/v1/vehicles/{id}/track`)
    and its last position."""
    data: dict[str, Any] = {"tiles": tile_url, "attribution": attribution, "stations": [], "track": [],
                            "position": None}
    if stations.ok:
        data["stations"] = [{"code": s["code"], "name": s.get("name"), "lat": s["lat"], "lon": s["lon"]}
                            for s in stations.data]
    if shipment.ok:
        pos = shipment.data.get("last_position")
        if pos:
            data["position"] = {"lat": pos["lat"], "lon": pos["lon"], "at": pos["at"],
                                "label": shipment.data.get("vehicle_id") or ""}
    if track is not None and track.ok:
        data["track"] = [[p["lat"], p["lon"]] for p in track.data.get("points", [])]
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def in_transit_rows(report: dict[str, Any], stations_by_code: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    """The 08:00 report flattened: one row per waybill on board, with its vehicle's fix."""
    rows = []
    for v in report.get("vehicles", []):
        pos = v.get("last_position") or {}
        for s in v.get("shipments", []):
            station = stations_by_code.get(s.get("destination", ""), {})
            rows.append({
                "vehicle_id": v["vehicle_id"], "plate": v.get("plate"), "driver_name": v.get("driver_name"),
                "driver_phone": v.get("driver_phone"), "stale": v.get("stale"),
                "last_fix_at": v.get("last_fix_at"), "fix_age_minutes": v.get("fix_age_minutes"),
                "lat": pos.get("lat"), "lon": pos.get("lon"),
                "waybill_no": s["waybill_no"], "destination": s.get("destination"),
                "region": station.get("region"), "promised_at": s.get("promised_at"), "eta": s.get("eta"),
                "delayed": s.get("delayed"), "handling_flags": s.get("handling_flags", []),
                "handling": s.get("handling") or "",
            })
    return rows


def filter_in_transit(rows: list[dict[str, Any]], *, station: str | None, region: str | None,
                      delayed: bool, special: bool) -> list[dict[str, Any]]:
    out = rows
    if station:
        out = [r for r in out if r["destination"] == station]
    if region:
        out = [r for r in out if (r.get("region") or "") == region]
    if delayed:
        out = [r for r in out if r["delayed"]]
    if special:
        out = [r for r in out if r["handling_flags"]]
    return out
