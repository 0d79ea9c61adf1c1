"""The event catalogue documents are generated from the code and must be current."""

from __future__ import annotations

import json
from pathlib import Path

from shared.catalogue import main, render
from shared.events import EVENT_TYPES

DOCS = Path(__file__).resolve().parents[3] / "docs"


def test_committed_catalogue_matches_the_code() -> None:
    assert main(["--check"]) == 0, "run: .venv/bin/python -m shared.catalogue"


def test_asyncapi_document_lists_every_event_type_with_its_schema() -> None:
    doc = json.loads(render()[DOCS / "asyncapi.json"])
    assert doc["asyncapi"].startswith("3.")
    addresses = {c["address"] for c in doc["channels"].values()}
    assert addresses == set(EVENT_TYPES)
    delayed = doc["components"]["messages"]["ShipmentDelayed"]
    assert delayed["x-producer"] == "tracking"
    assert "notifier" in delayed["x-consumers"] and "complaints" in delayed["x-consumers"]
    assert "eta" in doc["components"]["schemas"]["ShipmentDelayed"]["required"]


def test_committed_settings_reference_matches_the_code() -> None:
    from shared.settings_doc import main as settings_main

    assert settings_main(["--check"]) == 0, "run: .venv/bin/python -m shared.settings_doc"
