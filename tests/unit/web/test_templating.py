"""The pages' Jinja environment (`services.web.templating.PageEnvironment`) answers `x.name` as
Jinja's own does, only without the caught AttributeError for a dict's key (no I/O)."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st
from jinja2 import ChainableUndefined, Environment, Undefined
from starlette.requests import Request

from services.web.templating import PageEnvironment, Templates

_NAMES = st.one_of(st.sampled_from(sorted(dir(dict)) + ["stage", "at", "city", "get", "items", "keys"]),
                   st.text(max_size=12))
_VALUES = st.one_of(st.none(), st.integers(), st.text(max_size=8), st.lists(st.integers(), max_size=3))


def _same(left: Any, right: Any) -> bool:
    if isinstance(left, Undefined) or isinstance(right, Undefined):
        return (type(left) is type(right) and left._undefined_name == right._undefined_name  # noqa: SLF001
                and left._undefined_obj is right._undefined_obj)  # noqa: SLF001
    return bool(left is right or left == right)


@given(keys=st.dictionaries(_NAMES, _VALUES, max_size=6), name=_NAMES)
def test_a_dicts_name_reads_as_jinjas_own_getattr_reads_it(keys: dict[str, Any], name: str) -> None:
    stock = Environment(undefined=ChainableUndefined)
    fast = PageEnvironment(undefined=ChainableUndefined)
    for obj in (keys, dict.fromkeys(keys)):
        assert _same(stock.getattr(obj, name), fast.getattr(obj, name)), (obj, name)


class _Row(dict[str, Any]):
    """A dict subclass may carry attributes of its own: Jinja's order (attribute first) holds for it."""

    stage = "attribute"


def test_a_dict_subclass_and_other_objects_keep_jinjas_order() -> None:
    fast = PageEnvironment()
    assert fast.getattr(_Row(stage="key"), "stage") == "attribute"
    row = {"items": 1}
    assert fast.getattr(row, "items") == row.items  # dict's own attribute, as Jinja gives it
    assert fast.getattr({"stage": "key"}, "stage") == "key"
    assert isinstance(fast.getattr({}, "stage"), Undefined)


def _request(path: str, lang: str) -> Request:
    return Request({"type": "http", "method": "POST", "scheme": "http", "server": ("127.0.0.1", 8005),
                    "path": path, "query_string": b"", "headers": [(b"accept-language", lang.encode())]})


VIEW = {"waybill_no": "LCS20261207001", "stage": "in_transit", "city": "南京", "detailed": True, "delayed": True,
        "delay_reason": "slow_progress", "eta": {"day": "2026-12-09", "half": "pm"},
        "signer": {"name": "杨**", "signed_at": "2026-12-09T07:00:00+00:00"},
        "timeline": [{"event": event, "at": f"2026-12-0{i + 1}T08:00:00+00:00", "city": "<南京>",
                      "reason": "traffic_jam" if event == "delayed" else None}
                     for i, event in enumerate(["registered", "departed", "arrived", "departed", "delayed"])]}


def test_the_public_page_renders_the_same_in_both_environments() -> None:
    fast = Templates()
    stock = Templates()
    stock.env = Environment(loader=fast.env.loader, autoescape=fast.env.autoescape, undefined=ChainableUndefined,
                            trim_blocks=True, lstrip_blocks=True, auto_reload=False)
    stock.env.filters.update(fast.env.filters)
    stock.env.globals.update(fast.env.globals)
    assert type(fast.env) is PageEnvironment
    for lang in ("zh-CN", "en"):
        ctx = {"outcome": "found", "view": VIEW, "waybill": "LCS20261207001", "eta_text": "12月9日下午"}
        pages = [bytes(t.render(_request("/track", lang), "public/track.html", **ctx).body).decode()
                 for t in (stock, fast)]
        assert pages[0] == pages[1]
        assert 'data-stage="in_transit"' in pages[1] and "&lt;南京&gt;" in pages[1]
        assert pages[1].count("<li data-event=") == 5


_OUTCOMES = st.sampled_from(["detailed", "coarse", "not_found", "rate_limited", "invalid", "locked", "unavailable"])
_TEXT = st.text(alphabet=st.sampled_from("S0123<>&\"'南京 "), max_size=10)
_EVENTS = st.fixed_dictionaries({"event": st.sampled_from(["registered", "departed", "arrived", "delayed", "signed"]),
                                 "at": st.sampled_from(["2026-12-01T08:00:00+00:00", "2026-12-02T23:59:00+08:00"]),
                                 "city": st.one_of(st.none(), _TEXT),
                                 "reason": st.one_of(st.none(), st.sampled_from(["traffic_jam", "weather"]))})
_VIEWS = st.one_of(st.none(), st.fixed_dictionaries({
    "waybill_no": _TEXT, "stage": st.sampled_from(["in_transit", "delivered", "<x>"]),
    "city": st.one_of(st.none(), _TEXT), "detailed": st.booleans(), "delayed": st.booleans(),
    "delay_reason": st.one_of(st.none(), st.sampled_from(["slow_progress", "weather"])),
    "eta": st.one_of(st.none(), st.fixed_dictionaries({"day": st.just("2026-12-09"),
                                                       "half": st.sampled_from(["am", "pm"])})),
    "signer": st.one_of(st.none(), st.fixed_dictionaries({"name": _TEXT,
                                                          "signed_at": st.just("2026-12-09T07:00:00+00:00")})),
    "timeline": st.lists(_EVENTS, max_size=4)}))
_PAGES = st.lists(st.tuples(st.sampled_from(["zh-CN", "en"]), st.one_of(st.none(), _OUTCOMES), _VIEWS, _TEXT),
                  min_size=1, max_size=4)


@given(pages=_PAGES)
def test_a_page_in_its_cached_shell_is_the_page_rendered_whole(pages: list[tuple[str, str | None, Any, str]]) -> None:
    """The shell is rendered once, with the first page's data: none of it may reach a later page."""
    templates = Templates()
    for lang, outcome, view, waybill in pages:
        ctx = {"outcome": outcome, "view": view, "waybill": waybill, "eta_text": waybill[:3]}
        request = _request("/track", lang)
        whole = templates.render(request, "public/track.html", **ctx)
        shelled = templates.render_in_shell(request, "public/track.html", **ctx)
        assert bytes(shelled.body).decode() == bytes(whole.body).decode()
        assert shelled.status_code == whole.status_code
    assert len(templates._shells) <= 2  # noqa: SLF001 - one per language at /track
