"""What a desk report is: its rows' typed columns (shown as the table's header, the CSV's and
the XLSX's), the period it takes, and what its loader hands back."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any, Literal

from services.web.backends.client import Caller
from services.web.context import WebRuntime
from services.web.domain.sheets import Column

Period = Literal["now", "day", "range", "month", "stock"]  # stock: as of now, by station and customer


@dataclass
class Loaded:
    """A report's rows, and the parts that could not be had (named above the table; the
    columns they would fill stay empty, in the downloads too)."""

    rows: list[dict[str, Any]]
    missing: list[str] = field(default_factory=list)


Loader = Callable[[WebRuntime, Caller, dict[str, str]], Awaitable[Loaded]]


@dataclass(frozen=True)
class Report:
    name: str
    backend: str
    columns: tuple[Column, ...]
    load: Loader
    period: Period


IN_TRANSIT_COLUMNS = (
    Column("waybill_no", "运单号 waybill"), Column("vehicle_id", "车辆 vehicle"), Column("plate", "车牌 plate"),
    Column("driver_name", "司机 driver"), Column("driver_phone", "司机电话 driver phone"),
    Column("destination", "目的站 destination"), Column("region", "区域 region"),
    Column("last_fix_at", "最后定位 last fix (北京时间)", "time"),
    Column("fix_age_minutes", "定位时长(分) fix age min", "int"), Column("stale", "无信号 stale", "bool"),
    Column("lat", "纬度 lat", "float"), Column("lon", "经度 lon", "float"),
    Column("promised_at", "承诺时间 promised (北京时间)", "time"), Column("eta", "预计到达 ETA (北京时间)", "time"),
    Column("delayed", "延误 delayed", "bool"), Column("handling", "特殊要求 handling"),
)

EXCEPTION_COLUMNS = (
    Column("station", "站点 station"), Column("kind", "类型 kind"), Column("count", "次数 count", "int"),
    Column("pieces", "件数 pieces", "int"), Column("open_at_end", "未结 open", "int"),
    Column("waybills", "运单 waybills"),
)

RECEIPTS_MONTH_COLUMNS = (
    Column("region", "区域 region"), Column("required", "应回 required", "int"),
    Column("returned_on_time", "按时 on time", "int"), Column("returned_late", "超期 late", "int"),
    Column("outstanding", "未回 outstanding", "int"), Column("abnormal", "异常 abnormal", "int"),
    Column("lost", "遗失 lost", "int"), Column("penalty_cny", "罚款(元) penalty CNY", "float"),
)

COMPLAINTS_MONTH_COLUMNS = (Column("measure", "指标 measure"), Column("value", "数值 value"))

# 当日工作报表: per desk member, the day's recorded work.
DAILY_WORK_COLUMNS = (
    Column("name", "客服 staff"), Column("person", "用户名 user"),
    Column("calls_logged", "来电记录 calls logged", "int"),
    Column("notes_written", "追踪记录 notes written", "int"),
    Column("complaints_answered", "答复投诉 complaints answered", "int"),
    Column("first_answers", "首次答复 first answers", "int"),
    Column("first_answers_within_sla", "按时首次答复 first answers within SLA", "int"),
    Column("complaints_resolved", "解决投诉 resolved", "int"),
    Column("resolved_within_sla", "按时解决 resolved within SLA", "int"),
    Column("receipts_chased", "催回单 receipts chased", "int"),
    Column("callbacks_returned", "回电 callbacks returned", "int"),
    Column("complaints_claimed", "认领投诉 claimed", "int"),
    Column("complaints_opened", "登记投诉 opened", "int"),
)
DAILY_WORK_COUNTS = tuple(c.key for c in DAILY_WORK_COLUMNS if c.type == "int")

# 每天的货量: per station, what was registered, departed, arrived and delivered that day.
VOLUME_STAGES = (("registered", "登记 registered"), ("departed", "发车 departed"), ("arrived", "到达 arrived"),
                 ("delivered", "签收 delivered"))
VOLUME_MEASURES = (("shipments", "票 shipments", "int"), ("pieces", "件 pieces", "int"),
                   ("weight_kg", "重量kg weight", "float"), ("volume_m3", "体积m³ volume", "float"))
DAILY_VOLUME_COLUMNS = (
    Column("station", "站点 station"),
    *(Column(f"{stage}_{key}", f"{stage_title} {title}", kind)  # type: ignore[arg-type]
      for stage, stage_title in VOLUME_STAGES for key, title, kind in VOLUME_MEASURES),
)

# 货物暂存报表: goods waiting at their destination station (split shipments: the arrived pieces).
STORAGE_COLUMNS = (
    Column("waybill_no", "运单号 waybill"), Column("customer_id", "客户 customer"), Column("station", "站点 station"),
    Column("status", "状态 status"), Column("pieces", "到件 pieces", "int"),
    Column("pieces_total", "总件数 pieces total", "int"), Column("weight_kg", "重量kg weight", "float"),
    Column("volume_m3", "体积m³ volume", "float"), Column("arrived_at", "到站 arrived (北京时间)", "time"),
    Column("days_in_storage", "暂存天数 days in storage", "int"),
    Column("appointment_start", "预约开始 appointment from (北京时间)", "time"),
    Column("appointment_end", "预约结束 appointment to (北京时间)", "time"),
    Column("appointment_outcome", "预约结果 appointment outcome"),
    Column("appointment_missed", "错过预约 appointment missed", "bool"),
)
