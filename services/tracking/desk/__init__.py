"""The customer-service desk's part: signed deliveries, tracking notes, cargo exceptions and their
photos, the 08:00 in-transit report and the weekly exception summary."""
