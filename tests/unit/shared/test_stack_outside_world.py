"""`make run`'s outside world: where e-mail and SMS go, the supervisor's mailbox, and what the
banner says — never a fallback gateway on a port nothing of that gateway listens on."""

from __future__ import annotations

from shared.devtools.stack import DEV_SUPERVISOR_EMAIL, outside_world

SINKS = "http://127.0.0.1:8025"


def test_by_default_the_sinks_take_everything_and_the_supervisor_has_a_mailbox_on_them() -> None:
    world = outside_world({}, SINKS, 1025)
    assert world.own_sinks
    assert world.env == {"LCS_SUPERVISOR_EMAIL": DEV_SUPERVISOR_EMAIL, "LCS_WECOM_BASE_URL": f"{SINKS}/wecom"}
    banner = "\n".join(world.lines)
    assert DEV_SUPERVISOR_EMAIL in banner and f"{SINKS}/fallback/sms" in banner


def test_a_supervisor_mailbox_given_is_kept() -> None:
    world = outside_world({"LCS_SUPERVISOR_EMAIL": "boss@example.com"}, SINKS, 1025)
    assert "LCS_SUPERVISOR_EMAIL" not in world.env
    assert any("boss@example.com" in line for line in world.lines)


def test_an_overridden_sms_gateway_has_no_fallback_unless_one_is_given() -> None:
    world = outside_world({"LCS_SMS_URL": "https://sms.example.com/send"}, SINKS, 1025)
    assert world.env["LCS_SMS_FALLBACK_URL"] == ""  # off, not the stack's sinks
    assert world.own_sinks  # the SMTP sink still takes the mail
    assert any("no fallback" in line and "LCS_SMS_FALLBACK_URL" in line for line in world.lines)

    given = outside_world({"LCS_SMS_URL": "https://sms.example.com/send",
                           "LCS_SMS_FALLBACK_URL": "https://backup.example.com/send"}, SINKS, 1025)
    assert "LCS_SMS_FALLBACK_URL" not in given.env
    assert any("https://backup.example.com/send" in line for line in given.lines)


def test_an_overridden_smtp_server_gets_no_dev_supervisor_and_keeps_its_own_port() -> None:
    world = outside_world({"LCS_SMTP_HOST": "mail.example.com"}, SINKS, 1025)
    assert "LCS_SUPERVISOR_EMAIL" not in world.env
    assert world.env["LCS_SMTP_PORT"] == "25"  # not the SMTP sink's port
    assert any("no_recipient" in line for line in world.lines)
    both = outside_world({"LCS_SMTP_HOST": "mail.example.com", "LCS_SMTP_PORT": "587",
                          "LCS_SMS_URL": "https://sms.example.com/send"}, SINKS, 1025)
    assert not both.own_sinks and both.env["LCS_SMTP_PORT"] == "587"


def test_group_robots_are_the_sinks_unless_a_base_url_is_given_and_never_guessed_real_by_accident() -> None:
    assert outside_world({}, SINKS, 1025).env["LCS_WECOM_BASE_URL"] == f"{SINKS}/wecom"
    given = outside_world({"LCS_WECOM_BASE_URL": "http://robots.test"}, SINKS, 1025)
    assert "LCS_WECOM_BASE_URL" not in given.env
    assert any("http://robots.test" in line for line in given.lines)
    # Both SMTP and SMS overridden: no sinks run, so the real robots it is (and the banner says so).
    real = outside_world({"LCS_SMTP_HOST": "mail.example.com", "LCS_SMS_URL": "https://sms.example.com/send"},
                         SINKS, 1025)
    assert "LCS_WECOM_BASE_URL" not in real.env
    assert any("qyapi.weixin.qq.com" in line for line in real.lines)
