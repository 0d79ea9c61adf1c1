"""Delivery appointments (预约送货): book a window with the consignee, list a station's day."""
