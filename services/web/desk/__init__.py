"""The CS desk: workbench, search, waybill page, queues, reports."""
