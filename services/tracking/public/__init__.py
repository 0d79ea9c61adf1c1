"""The public's view of a waybill, for web's tracking page (role `public` only)."""
