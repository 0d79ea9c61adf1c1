"""The notifier's Prometheus metrics (`lcs_notifier_` prefix, base units)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

# One count per notification outcome: queued / deferred / suppressed when decided (provider
# "none"), sent / failed when delivery ends (provider = the one that took it, or tried last).
NOTIFICATIONS = Counter("lcs_notifier_notifications_total", "Notifications by channel, provider and status",
                        ["channel", "provider", "status"])
ATTEMPTS = Counter("lcs_notifier_delivery_attempts_total", "Send attempts per provider and outcome",
                   ["channel", "provider", "outcome"])
SEND_DURATION = Histogram("lcs_notifier_send_duration_seconds", "Duration of one provider call",
                          ["channel", "provider"], buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10))
QUEUE_TO_SENT = Histogram("lcs_notifier_queued_to_sent_seconds", "From the notification row to sent",
                          ["channel"], buckets=(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 30, 300))
DIGESTS = Counter("lcs_notifier_digests_total", "Daily arrival reports queued or skipped", ["outcome"])
# Routed notices that reached nobody (no address at all): stored `failed`, reason `no_recipient`.
NO_RECIPIENT = Counter("lcs_notifier_no_recipient_total", "Routed notices with no recipient to send to",
                       ["event_type", "audience", "channel"])
# Notifications the desk sent again (POST /v1/notifications/{id}/retry), by what they were.
RETRIES_REQUESTED = Counter("lcs_notifier_retries_requested_total", "Notifications sent again by the desk",
                            ["channel", "from_status"])
# Messages the hourly throttle held and rolled up into a summary (they go inside it).
ROLLED_UP = Counter("lcs_notifier_rolled_up_total", "Messages held by the throttle and rolled up into a summary",
                    ["channel"])
# Group robot messages that failed for good and were sent by e-mail instead.
FALLBACKS = Counter("lcs_notifier_fallbacks_total", "Failed messages sent again on another channel",
                    ["channel", "to_channel"])
# The key accounts' storage reports queued (or found queued already).
STORAGE_REPORTS = Counter("lcs_notifier_storage_reports_total", "Storage reports queued or skipped", ["outcome"])
