"""`EtaConfig`: every number the ETA, delay, reason and stale rules use, in one place.

The service's settings carry the same names (`LCS_ROAD_FACTOR`, `LCS_GRACE_MINUTES`, ...)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class EtaConfig:
    """Every number the ETA, delay, reason and stale rules use (defaults from the desk's rules)."""

    road_factor: float = 1.3  # roads are longer than great circles
    min_speed_kmh: float = 30.0  # a crawling or parked truck must not give an ETA in 2099
    default_speed_kmh: float = 60.0  # cruise speed when the vehicle reported no usable speed
    dwell_minutes_per_transfer: float = 45.0  # unloading/reloading at each remaining transfer
    speed_window_minutes: float = 30.0  # "recent" average speed window
    grace_minutes: float = 15.0  # late only when ETA > promised_at + grace
    worsen_step_minutes: float = 30.0  # a second `delayed` only after this much more delay
    # ... and only this long after the previous notice: a truck that stops makes its ETA jump
    # with every fix while its average speed falls; customers get one revised time, not a storm.
    renotify_min_minutes: float = 60.0
    # Hysteresis against flapping around the threshold: recovered only when
    # ETA <= promised_at + grace - recovery_margin. 0 = exactly the contract's rule.
    recovery_margin_minutes: float = 0.0
    stopped_minutes: float = 20.0  # speed ~0 for this long -> vehicle_stopped
    stopped_speed_kmh: float = 2.0  # "speed ~0": GPS jitter reports 0.5-1.5 km/h when parked
    stopped_radius_km: float = 0.2  # fixes without speed count as stopped within this radius
    no_signal_minutes: float = 120.0  # no fix for this long -> no_signal / vehicle stale
    # The rules above read a vehicle's track thinned to one fix per this many seconds (see
    # `sample_track`): a 1 Hz feed then costs the evaluation what a 1-a-minute feed costs.
    # 0 = every fix is read.
    track_sample_seconds: float = 60.0
    # A live feed re-evaluates a vehicle's shipments at most once per this many seconds of its
    # feed (see `evaluation_due`). 0 = at every fix.
    evaluation_interval_seconds: float = 15.0

    def __post_init__(self) -> None:
        positive = (
            "road_factor",
            "min_speed_kmh",
            "default_speed_kmh",
            "speed_window_minutes",
            "worsen_step_minutes",
            "stopped_minutes",
            "no_signal_minutes",
        )
        for name in positive:
            if not getattr(self, name) > 0:
                raise ValueError(f"EtaConfig.{name} must be > 0")
        non_negative = (
            "dwell_minutes_per_transfer",
            "grace_minutes",
            "recovery_margin_minutes",
            "renotify_min_minutes",
            "stopped_speed_kmh",
            "stopped_radius_km",
            "track_sample_seconds",
            "evaluation_interval_seconds",
        )
        for name in non_negative:
            if not getattr(self, name) >= 0:
                raise ValueError(f"EtaConfig.{name} must be >= 0")


DEFAULT_ETA_CONFIG = EtaConfig()
