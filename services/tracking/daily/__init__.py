"""The day's reports: tracking notes written per person, and the daily volume per station."""
