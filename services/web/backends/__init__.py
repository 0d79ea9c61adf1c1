"""The four backends as pooled HTTP clients (tracking, receipts, complaints, notifier)."""
