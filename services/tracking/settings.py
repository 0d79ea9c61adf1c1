"""The tracking service's own settings (`LCS_*` environment variables).

The ETA / delay / stale numbers carry the names of `domain.config.EtaConfig`'s fields
(`LCS_ROAD_FACTOR`, `LCS_GRACE_MINUTES`, `LCS_WORSEN_STEP_MINUTES`, ...), so the
rules and their configuration read the same.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from services.tracking.domain.config import EtaConfig
from services.tracking.domain.fixes import PositionLimits
from shared.links import PublicLinkSettings


class TrackingSettings(PublicLinkSettings):
    # --- ETA and delay (domain.config.EtaConfig) ---
    road_factor: float = Field(default=1.3, gt=0, le=10)
    min_speed_kmh: float = Field(default=30.0, gt=0, le=300)
    default_speed_kmh: float = Field(default=60.0, gt=0, le=300)
    dwell_minutes_per_transfer: float = Field(default=45.0, ge=0, le=24 * 60)
    speed_window_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    grace_minutes: float = Field(default=15.0, ge=0, le=24 * 60)
    worsen_step_minutes: float = Field(default=30.0, gt=0, le=24 * 60)
    renotify_min_minutes: float = Field(default=60.0, ge=0, le=24 * 60)
    recovery_margin_minutes: float = Field(default=0.0, ge=0, le=24 * 60)
    stopped_minutes: float = Field(default=20.0, gt=0, le=24 * 60)
    stopped_speed_kmh: float = Field(default=2.0, ge=0, le=50)
    stopped_radius_km: float = Field(default=0.2, ge=0, le=50)
    no_signal_minutes: float = Field(default=120.0, gt=0, le=7 * 24 * 60)
    # The delay rules read each vehicle's track thinned to one fix per this many seconds
    # (every fix is stored); 0 = read every fix.
    track_sample_seconds: float = Field(
        default=60.0, ge=0, le=3600,
        description="The delay rules read each vehicle's track thinned to one fix per this many seconds "
                    "(plus its newest; late fixes a step or more old, one a step); every fix is stored. "
                    "0 = read every fix.")
    evaluation_interval_seconds: float = Field(
        default=15.0, ge=0, le=3600,
        description="A live feed re-evaluates a vehicle's shipments (ETA, delay) at most once per this many "
                    "seconds of its feed: a 1 Hz tracker is evaluated every 15th fix, a device reporting less "
                    "often at every fix; a dense feed's delay notice waits at most this long. Scans, notes and "
                    "the stale sweep evaluate regardless. 0 = at every fix.")
    evaluation_poll_seconds: float = Field(
        default=1.0, gt=0, le=60,
        description="How often each replica looks for vehicles due for a trailing evaluation (a newest fix "
                    "not evaluated when it arrived, evaluated at the latest one evaluation interval later).")

    # --- positions ---
    position_max_speed_kmh: float = Field(default=300.0, gt=0)
    position_max_future_minutes: float = Field(default=5.0, ge=0, le=24 * 60)
    positions_max_batch: int = Field(default=5000, ge=1, le=50_000)
    positions_retention_days: int = Field(
        default=90, ge=1, le=3650,
        description="Fixes are kept this many days (up to one day more: a day's partition of positions is "
                    "dropped once its last fix has expired).")
    positions_sweep_interval_seconds: float = Field(
        default=3600.0, gt=0,
        description="How often the partitions of positions are maintained: the coming days' created, "
                    "expired ones dropped (feeds.partitions; one replica at a time).")
    positions_sweep_batch: int = Field(
        default=50_000, ge=100, le=1_000_000,
        description="Expired fixes deleted per statement where a partition spans many days (the legacy "
                    "partition of the rows before partitioning, the default partition).")
    positions_partition_ahead_days: int = Field(
        default=7, ge=1, le=60,
        description="Daily partitions of positions are created this many days ahead (fixes of a day "
                    "without one still land, in the default partition, and are moved at the next run).")
    # /osmand group commit: at most this many fixes share one transaction.
    osmand_group_max: int = Field(default=500, ge=1, le=10_000)
    # ... and this many group commits may be in flight at once (each holds a pool connection). One:
    # the next group forms while one commits and is sent with its COMMIT, so groups grow with the
    # load; on bench figure 2 two committers made groups of 11 instead of 16, and cost tracking
    # 190 to 218 µs and PostgreSQL 132 to 143 µs a request, against 163 to 178 and 93 to 107 (A/B).
    osmand_committers: int = Field(
        default=1, ge=1, le=16,
        description="/osmand group commits in flight at once: the next group forms while one commits; more "
                    "than one only where commits wait on round trips more than on CPU (a distant database).")

    # --- stale vehicles ---
    stale_check_interval_seconds: float = Field(default=300.0, gt=0)

    # --- the desk (desk/) and the CSV import ---
    photo_store: Literal["postgres", "filesystem"] = Field(
        default="postgres",
        description="Where exception photos' bytes are kept (desk.photos): `postgres` (table photo_blobs, every "
                    "replica reads it) or `filesystem` (LCS_PHOTO_DIR; every replica must mount the same "
                    "directory).")
    photo_dir: str = Field(default=".run/photos", description="The photo directory of LCS_PHOTO_STORE=filesystem.")
    photo_max_bytes: int = Field(default=5_000_000, ge=1024)
    import_max_rows: int = Field(default=10_000, ge=1)
    import_max_bytes: int = Field(default=20_000_000, ge=1024)

    @model_validator(mode="after")
    def _check_rules(self) -> TrackingSettings:
        self.eta_config()  # fail at start, not at the first position
        return self

    def eta_config(self) -> EtaConfig:
        return EtaConfig(
            road_factor=self.road_factor,
            min_speed_kmh=self.min_speed_kmh,
            default_speed_kmh=self.default_speed_kmh,
            dwell_minutes_per_transfer=self.dwell_minutes_per_transfer,
            speed_window_minutes=self.speed_window_minutes,
            grace_minutes=self.grace_minutes,
            worsen_step_minutes=self.worsen_step_minutes,
            renotify_min_minutes=self.renotify_min_minutes,
            recovery_margin_minutes=self.recovery_margin_minutes,
            stopped_minutes=self.stopped_minutes,
            stopped_speed_kmh=self.stopped_speed_kmh,
            stopped_radius_km=self.stopped_radius_km,
            no_signal_minutes=self.no_signal_minutes,
            track_sample_seconds=self.track_sample_seconds,
            evaluation_interval_seconds=self.evaluation_interval_seconds,
        )

    def position_limits(self) -> PositionLimits:
        return PositionLimits(max_speed_kmh=self.position_max_speed_kmh,
                              max_future_minutes=self.position_max_future_minutes)

