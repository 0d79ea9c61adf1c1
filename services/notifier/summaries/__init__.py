"""Throttle summaries: messages over the hourly limit, rolled up into one per recipient and channel."""
