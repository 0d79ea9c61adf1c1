"""Notices to shippers and consignees carry the public tracking link, within the SMS budget."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from services.notifier.domain.links import LINKED_AUDIENCES, SMS_PARTS_WITH_LINK, summary_links, tracking_links
from services.notifier.domain.sms import sms_segments
from services.notifier.domain.vocabulary import Audience, Channel, Language
from services.notifier.notifications.service import render_notice
from services.notifier.templates.renderer import TemplateRenderer
from services.notifier.templates.samples import SAMPLE_DATA
from shared.links import LinkKeys, verify

RING = LinkKeys.parse("k1:" + "k" * 40)
assert RING is not None
NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
SHIPMENT_NOTICES = ("departed", "delayed", "recovered", "arrived", "out_for_delivery", "delivered",
                    "exception_reported")
renderer = TemplateRenderer()


def test_no_base_url_or_no_keys_no_links() -> None:
    assert tracking_links(None, RING, timedelta(days=30)) is None
    assert tracking_links("  ", RING, timedelta(days=30)) is None
    assert tracking_links("https://lcs.example.com", None, timedelta(days=30)) is None
    assert {Audience.SHIPPER, Audience.CONSIGNEE} == LINKED_AUDIENCES


@pytest.mark.parametrize("template", SHIPMENT_NOTICES)
@pytest.mark.parametrize("language", [Language.ZH_CN, Language.EN])
@pytest.mark.parametrize("channel", [Channel.SMS, Channel.EMAIL])
def test_every_shipment_notice_carries_a_link_that_opens_its_waybill(template: str, language: Language,
                                                                     channel: Channel) -> None:
    links = tracking_links("https://track.lcs-logistics.example.com/", RING, timedelta(days=30))
    assert links is not None
    data = SAMPLE_DATA[template]
    link = links.for_waybill(str(data["waybill_no"]), NOW)
    assert link.startswith("https://track.lcs-logistics.example.com/t/")
    assert verify(RING, link.rsplit("/", 1)[1], NOW + timedelta(days=29)) == data["waybill_no"]
    assert verify(RING, link.rsplit("/", 1)[1], NOW + timedelta(days=30)) is None
    rendered = render_notice(renderer, template=template, channel=channel, language=language, data=dict(data),
                             link=link)
    if channel is Channel.SMS:
        assert sms_segments(rendered.text) <= SMS_PARTS_WITH_LINK
        # The English notice naming a Chinese signer is UCS-2 (70 units a part): with the link it
        # would take 4 parts, so it goes without; every other one carries it.
        assert (link in rendered.text) is not (template == "delivered" and language is Language.EN)
    else:
        assert link in rendered.text
        assert rendered.html is not None and f'href="{link}"' in rendered.html
    without = render_notice(renderer, template=template, channel=channel, language=language, data=dict(data),
                            link=None)
    assert "http" not in without.text


def test_an_sms_the_link_would_make_too_long_goes_without_it() -> None:
    long_link = "https://" + "x" * 300 + ".example.com/t/token"
    rendered = render_notice(renderer, template="delayed", channel=Channel.SMS, language=Language.ZH_CN,
                             data=dict(SAMPLE_DATA["delayed"]), link=long_link)
    assert "http" not in rendered.text and sms_segments(rendered.text) <= SMS_PARTS_WITH_LINK
    mail = render_notice(renderer, template="delayed", channel=Channel.EMAIL, language=Language.ZH_CN,
                         data=dict(SAMPLE_DATA["delayed"]), link=long_link)
    assert long_link in mail.text  # an e-mail has no parts to count


def test_a_summary_points_to_its_one_waybill_then_to_the_form() -> None:
    site = "https://lcs.example.com"
    links = tracking_links(site, RING, timedelta(days=30))
    one, form = summary_links(links, site, ["WB0001", "WB0001"], NOW)
    assert one is not None and one.startswith(f"{site}/t/WB0001.") and form == f"{site}/track"
    assert verify(RING, one.rsplit("/", 1)[1], NOW) == "WB0001"
    assert summary_links(links, site, ["WB0001", "WB0002"], NOW) == [f"{site}/track"]
    assert summary_links(links, site, ["WB0001", None], NOW) == [f"{site}/track"]
    assert summary_links(None, site, ["WB0001"], NOW) == [f"{site}/track"]
    assert summary_links(None, None, ["WB0001"], NOW) == [None]
