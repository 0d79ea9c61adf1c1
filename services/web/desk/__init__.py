"""The CS desk: workbench, search, waybill page, in-transit view, queues (complaints, receipts,
exceptions, notifications)."""
