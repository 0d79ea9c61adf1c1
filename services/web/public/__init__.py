"""The public tracking page: /track (waybill number, optional phone digits) and /t/{token}."""
