"""What the waybill's map draws (desk.views.map_data, pure): the route's stations, the vehicle's
recent track from tracking's /v1/vehicles/{id}/track, oldest first, and its last position."""

from __future__ import annotations

import json

from services.web.desk.parts import Part
from services.web.desk.views import map_data

SHIPMENT = Part("tracking", {"waybill_no": "W1", "vehicle_id": "V1",
                             "last_position": {"at": "2026-12-01T10:00:00+08:00", "lat": 31.4, "lon": 120.9}})
STATIONS = Part("tracking", [{"code": "SH01", "name": "上海站", "lat": 31.23, "lon": 121.47},
                             {"code": "WX01", "name": "无锡站", "lat": 31.49, "lon": 120.31}])


def test_the_track_is_drawn_oldest_first_with_the_last_position_and_stations() -> None:
    track = Part("tracking", {"vehicle_id": "V1", "points": [
        {"at": "2026-12-01T09:00:00+08:00", "lat": 31.25, "lon": 121.40, "speed_kmh": 60.0},
        {"at": "2026-12-01T09:30:00+08:00", "lat": 31.30, "lon": 121.20, "speed_kmh": 55.0},
        {"at": "2026-12-01T10:00:00+08:00", "lat": 31.40, "lon": 120.90, "speed_kmh": None}]})
    data = json.loads(map_data(SHIPMENT, STATIONS, None, "", track))
    assert data["track"] == [[31.25, 121.40], [31.30, 121.20], [31.40, 120.90]]
    assert data["position"] == {"lat": 31.4, "lon": 120.9, "at": "2026-12-01T10:00:00+08:00", "label": "V1"}
    assert [s["code"] for s in data["stations"]] == ["SH01", "WX01"] and data["tiles"] is None


def test_no_track_when_tracking_has_none_or_fails() -> None:
    for track in (None, Part("tracking", problem="unavailable"), Part("tracking", {"points": []})):
        data = json.loads(map_data(SHIPMENT, STATIONS, "https://tiles.example/{z}/{x}/{y}.png", "©", track))
        assert data["track"] == [] and data["position"]["label"] == "V1" and len(data["stations"]) == 2
