"""The portal's downloads: the columns of its tables as CSV and XLSX (the same typed columns
the desk's reports use)."""

from __future__ import annotations

from services.web.domain.sheets import Column

SHIPMENT_COLUMNS = (
    Column("waybill_no", "运单号 waybill"), Column("status", "状态 status"),
    Column("origin", "始发站 origin"), Column("destination", "目的站 destination"),
    Column("consignee_name", "收货人 consignee"), Column("pieces", "件数 pieces", "int"),
    Column("pieces_arrived", "已到件数 pieces arrived", "int"),
    Column("registered_at", "登记时间 registered (北京时间)", "time"),
    Column("promised_at", "承诺时间 promised (北京时间)", "time"), Column("eta", "预计到达 ETA (北京时间)", "time"),
    Column("delayed", "延误 delayed", "bool"), Column("delay_reason", "延误原因 delay reason"),
)

ARRIVAL_COLUMNS = (
    Column("kind", "类别 arrived/due"), Column("waybill_no", "运单号 waybill"),
    Column("destination", "目的站 destination"), Column("consignee_name", "收货人 consignee"),
    Column("pieces", "件数 pieces", "int"), Column("at", "到达/预计 time (北京时间)", "time"),
    Column("late", "晚于承诺 late", "bool"),
)

# 货物暂存报表: goods at their destination station waiting for delivery.
STORAGE_COLUMNS = (
    Column("waybill_no", "运单号 waybill"), Column("station", "站点 station"),
    Column("consignee_name", "收货人 consignee"), Column("pieces", "件数 pieces", "int"),
    Column("weight_kg", "重量kg weight", "float"), Column("volume_m3", "体积m³ volume", "float"),
    Column("arrived_at", "到达时间 arrived (北京时间)", "time"),
    Column("days_in_storage", "暂存天数 days in storage", "int"), Column("appointment", "预约送货 appointment"),
    Column("appointment_missed", "预约未送 appointment missed", "bool"),
)

RECEIPT_COLUMNS = (
    Column("waybill_no", "运单号 waybill"), Column("status", "状态 status"),
    Column("arrived_at", "到达时间 arrived (北京时间)", "time"), Column("due_at", "回单期限 due (北京时间)", "time"),
    Column("overdue", "超期 overdue", "bool"),
)
