"""docs/BENCHMARKS.md from one bench run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, NamedTuple

from bench import profiling

if TYPE_CHECKING:
    from bench.main import Results


def _per_vehicle(batch: int, fleet: int) -> str:
    """A batch's fixes per vehicle, as seconds of a 1 Hz feed (bench.load: the first vehicles get one
    more when the fleet does not divide the batch)."""
    low, extra = divmod(batch, max(1, fleet))
    return f"{low} s" if not extra else f"{low} to {low + 1} s"


FIGURE_1_SHAPES = (
    "Figure 1 is measured in two load shapes, each against the same run's C1: **own share** (row 1), each "
    "connection posting fixes of its own quarter of the batch vehicles, so concurrent batches never touch the "
    "same vehicle; and **whole fleet** (row 1b), every connection posting fixes of all of them, the connections "
    "taking turns in feed time, as a GPS aggregator or a Traccar forwarder pushes, so concurrent batches carry "
    "fixes of the same vehicles, interleaved and at times out of order. The second measures what concurrent "
    "batches of one fleet cost each other (vehicle row locks, evaluation claims, deferred evaluations); both "
    "shapes are run alternately within each run, after a settle.")

QUERIES = {
    "shipment": "GET /v1/shipments/{no}",
    "chase": "receipts overdue scan (chase SQL, EXPLAIN ANALYZE + timed)",
    "in_transit": "GET /v1/reports/in-transit",
    "track": "vehicle's 24-hour track (SQL)",
}


def _n(x: float | None, unit: str = "", digits: int = 0) -> str:
    if x is None:
        return "n/a"
    return f"{x:,.{digits}f}{unit}"


def _verdict(ok: bool | None) -> str:
    return "n/a" if ok is None else ("met" if ok else "**missed**")


def render(r: Results, targets: dict[str, float], batch: int) -> str:
    cfg = r.cfg
    m = r.median
    c1, c2, c3 = m("c1"), m("c2"), m("c3")
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    runs = f"median of {r.runs} run(s)"
    rows.append(("C1 raw COPY", _n(c1, " rows/s"), "—", "—", "—", "ceiling",
                 f"asyncpg `copy_records_to_table` of {batch}-row batches into a copy of `positions` (same "
                 f"columns, PK and BRIN; `LIKE ... INCLUDING ALL`), {cfg.batch_conns} connections, "
                 f"{cfg.duration:g} s counted; {runs}"))
    rows.append(("C2 bare FastAPI", _n(c2, " req/s"), "—", "—", "—", "ceiling",
                 f"`GET /ping` → small JSON, one uvicorn worker (uvloop, httptools, no access log); "
                 f"bench/load.py in its own process, {cfg.conns} keep-alive connections, {cfg.duration:g} s; {runs}"))
    rows.append(("C3 raw aio-pika", _n(c3, " msg/s"), "—", "—", "—", "ceiling",
                 f"{cfg.c3_n:,} persistent messages of {r.notes.get('event_bytes', 0)} bytes, publisher "
                 f"confirms awaited in windows of 200, into a quorum queue; consumed with acks, prefetch 32; "
                 f"publisher and consumer in separate processes; first publish → last ack; {runs}"))

    def ratio_row(label: str, value: float | None, unit: str, ceiling: float | None, cname: str, target: float,
                  how: str, digits: int = 0) -> None:
        ratio = value / ceiling if value is not None and ceiling else None
        rows.append((label, _n(value, unit, digits), f"{cname} {_n(ceiling)}", _n(ratio, "", 3),
                     f"≥ {target:g}×{cname}", _verdict(None if ratio is None else ratio >= target), how))

    ratio_row("1 Batch ingest", m("batch"), " positions/s", c1, "C1", targets["batch"],
              f"`POST /v1/positions`, {batch} fixes per batch, {cfg.batch_conns} connections each posting for its "
              f"own {cfg.vehicles_per_conn} vehicles, {_per_vehicle(batch, cfg.vehicles_per_conn)} of each one's "
              f"1 Hz feed per batch (every vehicle carries an in-transit shipment, its delay evaluated about once "
              f"per `LCS_EVALUATION_INTERVAL_SECONDS` (15) of its feed), carrier token; positions/s = 200-answered "
              f"batches × {batch} / s; batch p50 {_n(m('batch_p50_ms'), ' ms')}; {runs}")
    ratio_row("1b Batch ingest, whole fleet per batch", m("batch_fleet"), " positions/s", c1, "C1",
              targets["batch_fleet"],
              f"as figure 1, but each of the {cfg.batch_conns} connections posts fixes of all "
              f"{cfg.batch_conns * cfg.vehicles_per_conn} vehicles (as a GPS aggregator or a Traccar forwarder "
              f"does): {_per_vehicle(batch, cfg.batch_conns * cfg.vehicles_per_conn)} of 1 Hz fixes per vehicle "
              f"per batch, "
              f"the connections taking turns in feed time, so concurrent batches carry fixes of the same vehicles, "
              f"interleaved and at times out of order; a vehicle is evaluated about once per "
              f"`LCS_EVALUATION_INTERVAL_SECONDS` (15) of its feed, by one batch at a time; batch p50 "
              f"{_n(m('batch_fleet_p50_ms'), ' ms')}; {runs}")
    for key, label in (("batch_2r", "1r Batch ingest, two tracking replicas"),
                       ("batch_fleet_2r", "1br Batch ingest, whole fleet per batch, two tracking replicas")):
        if m(key) is not None:
            ratio_row(label, m(key), " positions/s", c1, "C1", targets[key],
                      f"as figure {label.split()[0][:-1]}, with a second tracking process (its own port, "
                      f"database pool and relay), connections 0 and 2 to one and 1 and 3 to the other, as a "
                      f"Kubernetes Service spreads connections over two pods (the production overlay runs "
                      f"2 to 10); batch p50 {_n(m(key + '_p50_ms'), ' ms')}; {runs}")
    livez = m("livez")
    rows.append(("2a HTTP stack alone: tracking `GET /livez`", _n(livez, " req/s"), f"C2 {_n(c2)}",
                 _n(livez / c2 if livez and c2 else None, "", 3), "—", "info",
                 f"no database: the service's whole HTTP stack (guard middleware, metrics, routing) with C2's "
                 f"generator and {cfg.conns} connections — the share of C2 left before /osmand does any work; "
                 f"{runs}"))
    for mode, how in (("asgi", "a fast route on the ASGI path (`FastRoutes`, as `/osmand` was answered)"),
                      ("direct", "a direct route answered by the protocol (`DirectRoute`, as `/osmand` is answered)")):
        rate = m(f"direct_{mode}")
        if rate is not None:
            rows.append((f"2b HTTP layer of a fix: {mode}", _n(rate, " req/s"), f"C2 {_n(c2)}",
                         _n(rate / c2 if c2 else None, "", 3), "—", "info",
                         f"`bench.direct_app`: `/osmand`'s query parsed and answered as tracking answers it, its "
                         f"work a future done next turn, no database: {how}; "
                         f"{_n(m(f'direct_{mode}_us'), ' µs', 1)} of server CPU per request (/proc); C2's generator "
                         f"and {cfg.conns} connections, the two taking turns; {runs}"))
    ratio_row("2 Device ingest /osmand", m("osmand"), " req/s", c2, "C2", targets["osmand"],
              f"`GET /osmand?id=..&timestamp=..&lat=..` single fixes, same generator and {cfg.conns} connections "
              f"as C2, one device (vehicle with a shipment on board) per connection, each answered after its "
              f"group commit; p50 {_n(m('osmand_p50_ms'), ' ms', 1)}; mean group "
              f"{_n(m('osmand_group'), ' fixes', 1)}, mean group commit {_n(m('osmand_commit_ms'), ' ms', 1)} "
              f"(tracking's `lcs_tracking_osmand_*` histograms over the run); each device's fixes are 1 s apart "
              f"in feed time, so with `LCS_EVALUATION_INTERVAL_SECONDS` 15 about one in 15 re-evaluates its "
              f"shipment: {_n(m('osmand_evaluated'), ' shipments evaluated per request', 3)} "
              f"(`lcs_tracking_shipments_evaluated_total`); {runs}")
    if m("osmand_2r") is not None:
        ratio_row("2r Device ingest /osmand, two tracking replicas", m("osmand_2r"), " req/s", c2, "C2",
                  targets["osmand_2r"],
                  f"as figure 2, with a second tracking process (its own port, database pool, committers and "
                  f"relay), the connections alternating between the two as in rows 1r and 1br; p50 "
                  f"{_n(m('osmand_2r_p50_ms'), ' ms', 1)}; mean group {_n(m('osmand_2r_group'), ' fixes', 1)} "
                  f"(both processes' histograms); {runs}")
    ratio_row("3 Event pipeline", m("pipeline"), " events/s", c3, "C3", targets["pipeline"],
              f"{cfg.pipeline_n:,} `tracking.shipment.registered.v1` envelopes inserted into tracking's outbox in "
              f"one transaction (+ NOTIFY) → relay → RabbitMQ → receipts' consumer; timed from commit until "
              f"receipts' inbox holds all of them (complaints and notifier consume the same events at the same "
              f"time; until all three: {_n(m('pipeline_all'), ' events/s')}; the relay alone, until every row "
              f"is marked sent: {_n(m('pipeline_relay'), ' events/s')}); {runs}")
    lat = r.latency
    p99 = lat.get("p99_all")
    rows.append(("4 Delay notice latency p50", _n(lat.get("p50_all"), " ms"), "—", "—", "—", "info",
                 "see p99 row"))
    rows.append(("4 Delay notice latency p99", _n(p99, " ms"), "—",
                 _n(p99 / targets["p99_ms"] if p99 else None, "", 2), f"≤ {targets['p99_ms']:g} ms",
                 _verdict(None if p99 is None else p99 <= targets["p99_ms"] and not lat.get("missing")),
                 f"{lat.get('samples', 0)} positions, one every {cfg.latency_interval:g} s, each making one shipment "
                 f"late; from the client's HTTP 200 to the last of its {_n(lat.get('notices_per_sample'))} delay "
                 f"notifications `sent` (`notifier.notifications.sent_at`, e-mail to the SMTP sink and SMS to the "
                 f"gateway stand-in on loopback); first notice sent: p50 {_n(lat.get('p50_first'), ' ms')}, "
                 f"p99 {_n(lat.get('p99_first'), ' ms')}; medians of the stages: 200 → notifier's inbox commit (relay, "
                 f"broker, consumer) {_n(lat.get('p50_to_consumed'), ' ms')}, inbox → last notice sent (dispatcher, "
                 f"SMTP, SMS) {_n(lat.get('p50_consumed_to_sent'), ' ms')}; "
                 f"{lat.get('missing', 0)} sample(s) incomplete; background "
                 f"batch load {_n(lat.get('background_achieved_positions_per_s'), ' positions/s')} (10% of the "
                 f"figure-1 target, capped at half of figure 1); with ~{lat.get('samples', 0)} samples p99 is "
                 f"close to the maximum"))
    sc = r.scale_rows
    for key, label in QUERIES.items():
        small = sc.get("small_results", {}).get(key)
        big = sc.get("big_results", {}).get(key)
        if not small or not big:
            continue
        ratio = big["ms"] / small["ms"] if small["ms"] else None
        rows.append((f"5 Scale: {label}", f"{small['ms']:.2f} ms → {big['ms']:.2f} ms", "—", _n(ratio, "×", 2),
                     f"≤ {targets['scale']:g}×", _verdict(None if ratio is None else ratio <= targets["scale"]),
                     f"median of {cfg.reps} after 3 warm-ups, at the small and the big size (below); "
                     f"indexes: {', '.join(f'`{i}`' for i in big['indexes']) or 'none (seq scan)'}"
                     + (f"; {big['rows']} rows" if "rows" in big else "")
                     + (f"; partitions read: {', '.join(f'`{p}`' for p in big['partitions'])}"
                        if big.get("partitions") else "")))
    rows += _web_rows(r, targets)
    for svc, phases in sorted(r.rss.items()):
        idle, load = phases.get("idle"), phases.get("load")
        rows.append((f"6 RSS {svc}", f"{_n(idle / 1024 if idle else None, ' MiB', 1)} idle → "
                     f"{_n(load / 1024 if load else None, ' MiB', 1)} under load", "—", "—", "—", "info",
                     "VmRSS from /proc/<pid>/status: after setup, before load; peak sampled every 0.2 s during "
                     "figures 1–4"))
    web = r.notes.get("web_rss") or {}
    if web:
        def mib(phase: str) -> str:
            return _n(web[phase] / 1024, " MiB", 1) if web.get(phase) else "not run"
        rows.append(("6 RSS web under its own figures", f"{mib('idle')} idle → {mib('live')} (7) · "
                     f"{mib('pages')} (8) · {mib('track')} (9)", "—", "—", "—", "info",
                     "web's VmRSS before figure 7 (after figures 1–4), then its peak, sampled every 0.2 s, "
                     "during figure 7 (the open streams), figure 8 (the desk's pages) and figure 9 (the public "
                     "page)"))

    out = [
        "# Benchmarks",
        "",
        "Generated by `make bench` (`python -m bench`, bench/) — do not edit by hand; rerun it. "
        f"Scale **{r.scale}**, {r.runs} run(s) per figure; the whole run took {r.notes.get('total_s', 0):.0f} s.",
        "",
        "Every figure is measured against a ceiling taken in the same run on the same machine, because absolute "
        "numbers on a shared machine drift: the ratio is what the targets of issues 9 and 24 are about, or a bound "
        "(a latency, a page's server time, memory per stream) measured in the same run. The stack is the real "
        "one (`shared.devtools.Stack`: the four backends and web, one uvicorn worker each, plus the SMTP/SMS "
        "sinks) on a database and a RabbitMQ vhost of its own, removed at the end. Load goes to loopback only. "
        "`python -m bench --only live,desk,track` (or letters, `--only LDT`) measures only some figures.",
        "",
        FIGURE_1_SHAPES,
        "",
        "## Machine",
        "",
        "| | |",
        "| --- | --- |",
        *[f"| {k} | {v} |" for k, v in r.machine.items()],
        "",
        "The machine is shared (other jobs run at the same time) and the load generator, the database, the "
        "broker and the services share its cores: treat absolute numbers as indicative, ratios as the result.",
        "",
        "## Results",
        "",
        "| Figure | Value | Ceiling | Ratio | Target | Result | How measured |",
        "| --- | --- | --- | --- | --- | --- | --- |",
        *[f"| {' | '.join(row)} |" for row in rows],
        "",
    ]
    if r.errors:
        out += ["**Problems seen during the run:**", "", *[f"- {e}" for e in r.errors], ""]
    if sc:
        out += _scale_section(sc)
    out += _cpu_section(r, targets)
    out += _limits_section(r)
    return "\n".join(out) + "\n"


PAGE_LABELS = {"workbench": "workbench `/desk/`", "search": "search by last 4 digits",
               "waybill": "waybill page", "storage": "storage report"}


def _web_rows(r: Results, targets: dict[str, float]) -> list[tuple[str, str, str, str, str, str, str]]:
    """Figures 7 to 9: the web service (issue 24)."""
    rows: list[tuple[str, str, str, str, str, str, str]] = []
    lv = r.live
    if lv:
        p99, per = lv.get("p99_ms"), lv.get("kib_per_stream")
        complete = lv.get("deliveries") == lv.get("expected") and not lv.get("problems")
        holder = lv.get("holder_cpu_s", 0.0) / lv["holder_wall_s"] if lv.get("holder_wall_s") else None
        how = (f"{lv['streams']} `GET /desk/events` streams open at once on web's one uvicorn worker, sharing "
               f"{lv.get('sessions')} sessions (tabs) of {lv['users']} staff accounts (made with `python -m "
               f"services.web users add`, signed in through the `/login` form in {_n(lv.get('sign_in_s'), ' s', 1)}: "
               f"argon2id makes a sign-in cost tens of MiB and a good part of a second, so not one per stream); "
               f"{lv['samples']} positions posted to tracking one at a time, each making one in-transit shipment "
               f"late; from the position's HTTP 200 to each stream's `live` frame naming that waybill "
               f"({lv.get('deliveries')} of {lv.get('expected')} frames arrived; max {_n(lv.get('max_ms'), ' ms')}); "
               f"the streams are held by bench/live_client.py, one process on uvloop with a bare asyncio "
               f"protocol per stream that stamps each read before parsing it: it was busy "
               f"{_n(100 * holder if holder is not None else None, '%')} of the time it waited (CPU / wall "
               f"clock), web spent {_n(lv.get('web_cpu_s'), ' CPU s', 2)} on the {lv['samples']} fan-outs")
        rows.append(("7 Live desk: delay to every stream p50", _n(lv.get("p50_ms"), " ms"), "—", "—", "—", "info",
                     "see p99 row"))
        rows.append(("7 Live desk: delay to every stream p99", _n(p99, " ms"), "—",
                     _n(p99 / targets["live_p99_ms"] if p99 is not None else None, "", 2),
                     f"≤ {targets['live_p99_ms']:g} ms", _verdict(None if p99 is None else p99 <= targets["live_p99_ms"]
                                                                  and complete), how))
        rows.append(("7 Live desk: memory per open stream", _n(per, " KiB", 1), "—",
                     _n(per / targets["live_kib_per_stream"] if per is not None else None, "", 2),
                     f"≤ {targets['live_kib_per_stream']:g} KiB",
                     _verdict(None if per is None else per <= targets["live_kib_per_stream"]),
                     f"(web's VmRSS with the {lv['streams']} streams open, "
                     f"{_n((lv.get('rss_open_kib') or 0) / 1024, ' MiB', 1)}, minus before they were opened and "
                     f"after the sign-ins, {_n((lv.get('rss_idle_kib') or 0) / 1024, ' MiB', 1)}) ÷ {lv['streams']}; "
                     f"the streams after the first {lv.get('warm')} (which pay the route's one-time costs): "
                     f"{_n(lv.get('kib_per_stream_marginal'), ' KiB', 1)} each; one reading, so a garbage "
                     f"collection or an allocator arena can move it by a few MiB either way"))
    pg = r.pages
    if pg:
        small, big = pg.get("small", {}), pg.get("big", {})
        for key, label in PAGE_LABELS.items():
            s, b = small.get(key), big.get(key)
            if not s or not b:
                continue
            if s.get("absent") or b.get("absent"):
                rows.append((f"8 Desk pages at scale: {label}", "not available", "—", "—", "—", "n/a",
                             "web answers 404: the page is not in this build"))
                continue
            if "p95_ms" not in s or "p95_ms" not in b:
                rows.append((f"8 Desk pages at scale: {label}", "error", "—", "—", "—", "**missed**",
                             f"{s.get('error') or b.get('error')}"))
                continue
            ratio = b["p50_ms"] / s["p50_ms"] if s["p50_ms"] else None
            ok = ratio is not None and ratio <= targets["scale"] and b["p95_ms"] <= targets["page_p95_ms"]
            rows.append((f"8 Desk pages at scale: {label}",
                         f"p50 {s['p50_ms']:.1f} → {b['p50_ms']:.1f} ms; p95 {s['p95_ms']:.1f} → {b['p95_ms']:.1f} ms",
                         "—", _n(ratio, "×", 2), f"≤ {targets['scale']:g}× and p95 ≤ {targets['page_p95_ms']:g} ms",
                         _verdict(ok),
                         f"through web with a staff session, {b['reps']} renders after warm-ups at figure 5's small "
                         f"and big size plus the desk's live part ({pg.get('delayed')} delayed shipments, "
                         f"{pg.get('complaints')} open complaints, {pg.get('at_risk')} receipts due within 3 days); "
                         f"ratio of the medians; "
                         + (f"indexes the backends' queries used (big): "
                            f"{', '.join(f'`{i}`' for i in b['indexes']) or 'none'}; tables read whole: "
                            f"{', '.join(f'`{t}`' for t in b.get('seq_scans', [])) or 'none'}"
                            if "indexes" in b else "the indexes its queries use not read in this run")
                         + (f"; the digits match {s['matches']:,} shipments at the small size and "
                            f"{b['matches']:,} at the big one, the page shows the first 25 at both (page "
                            f"{s['bytes'] / 1024:.0f} → {b['bytes'] / 1024:.0f} KiB)"
                            if "matches" in s and "matches" in b else "")))
    tr = r.track
    if tr.get("absent"):
        rows.append(("9 Public tracking page", "not available", "—", "—", "—", "n/a",
                     "web has no `/track` in this build (the page lands with the public tracking work)"))
    elif tr or r.values.get("track"):
        c2 = r.median("c2")
        rate = r.median("track")
        ratio = rate / c2 if rate is not None and c2 else None
        rows.append(("9 Public tracking page", _n(rate, " req/s"), f"C2 {_n(c2)}", _n(ratio, "", 3),
                     f"≥ {targets['track']:g}×C2", _verdict(None if ratio is None else ratio >= targets["track"]),
                     f"`POST /track` with the right last 4 digits, a different waybill each request (of "
                     f"{tr.get('waybills', 0):,} at figure 5's big size), HTML, C2's generator with {r.cfg.conns} "
                     f"keep-alive connections; the rate limits on: each connection from its own loopback address "
                     f"(127.0.0.2 ..), and the bench sets `LCS_PUBLIC_LOOKUPS_PER_ADDRESS` to its maximum, 100,000 "
                     f"a minute (the default, 10, is for people); p50 {_n(r.median('track_p50_ms'), ' ms', 1)}; "
                     f"median of {r.runs} run(s)"))
        rate2 = r.median("track_2r")
        if rate2 is not None:
            ratio2 = rate2 / c2 if c2 else None
            rows.append(("9r Public tracking page, two web replicas", _n(rate2, " req/s"), f"C2 {_n(c2)}",
                         _n(ratio2, "", 3), f"≥ {targets['track_2r']:g}×C2",
                         _verdict(None if ratio2 is None else ratio2 >= targets["track_2r"]),
                         f"as figure 9, with a second web process (its own port, database pool and group calls; "
                         f"both ask the one tracking), the connections alternating between the two as in rows 1r "
                         f"and 1br; p50 {_n(r.median('track_2r_p50_ms'), ' ms', 1)}; median of {r.runs} run(s)"))
        p99 = tr.get("p99_ms")
        rows.append(("9 Public tracking page p99 at half rate", _n(p99, " ms", 1), "—",
                     _n(p99 / targets["track_p99_ms"] if p99 is not None else None, "", 2),
                     f"≤ {targets['track_p99_ms']:g} ms",
                     _verdict(None if p99 is None else p99 <= targets["track_p99_ms"]),
                     f"the same load paced at half the rate above ({_n(tr.get('half_rate'), ' req/s')} asked, "
                     f"{_n(tr.get('achieved'), ' req/s')} done); p50 {_n(tr.get('p50_ms'), ' ms', 1)}"))
    return rows


def _scale_section(sc: dict[str, Any]) -> list[str]:
    from bench.scale import INDEX_NOTES, LIVE_CHASED, LIVE_IN_TRANSIT

    small, big = sc["small"], sc["big"]
    lines = [
        "## Figure 5: sizes and indexes",
        "",
        f"Sizes ({sc['label']}): small = {small.shipments:,} shipments, {small.receipts:,} receipts, "
        f"{small.positions:,} positions; big = {big.shipments:,} shipments, {big.receipts:,} receipts, "
        f"{big.positions:,} positions, generated by bench/scale.py and loaded with COPY straight into the "
        f"service schemas after the migrations (small in {sc.get('small_load_s', 0):.0f} s, the rest in "
        f"{sc.get('big_load_s', 0):.0f} s, VACUUM ANALYZE included). Counted after loading: "
        f"{sc.get('big_counts')}.",
        "",
        f"The live part is the same at both sizes — {LIVE_IN_TRANSIT} in-transit shipments, {LIVE_CHASED} receipts "
        "still being chased, one fix a minute per vehicle — and the history grows (delivered shipments, returned "
        "receipts, more vehicles and their fixes): a bigger company, not a slower day. The queried shipment, "
        "receipts and vehicle are the same rows at both sizes.",
        "",
        "| Query | small | big | ratio | indexes (big) |",
        "| --- | --- | --- | --- | --- |",
    ]
    from bench.report import QUERIES as Q
    for key, label in Q.items():
        s, b = sc["small_results"].get(key), sc["big_results"].get(key)
        if s and b:
            lines.append(f"| {label} | {s['ms']:.2f} ms | {b['ms']:.2f} ms | {b['ms'] / s['ms']:.2f}× | "
                         f"{', '.join(b['indexes']) or 'seq scan'} |")
    used = []
    for key in Q:
        b = sc["big_results"].get(key)
        for i in (b or {}).get("indexes", []):
            if i not in used:
                used.append(i)
    lines += ["", "Indexes the plans use (from the migrations):", ""]
    lines += [f"- `{i}` — {INDEX_NOTES.get(i, 'see the migrations')}" for i in used]
    lines += ["", "HTTP figures include the round trip, authentication and JSON rendering (a few ms on this "
              "machine), so a small index-depth difference hardly shows; SQL figures are the query alone.", ""]
    return lines


def _cpu_section(r: Results, targets: dict[str, float]) -> list[str]:
    if not r.cpu:
        return []
    cols = ["tracking", "receipts", "complaints", "notifier", "web", "postgres", "rabbitmq", "load generator"]
    try:
        cores = int(str(r.machine.get("Cores", "1")))
    except ValueError:
        cores = 1
    lines = ["## CPU per unit of work", "",
             "CPU seconds (user + system, from /proc) spent by each process during the figure's runs (warm-up "
             "included), divided by the units of work done in them: where a unit's cost goes, whatever the "
             "machine's noise does to the rates. `postgres` and `rabbitmq` are all of the machine's server "
             "processes (other jobs' share included); the load generator is the bench's own child (for C1, the "
             "bench's process itself, which runs the COPY client: the row is a ceiling's own cost per unit, "
             "beside which a figure's shows what its path adds). With "
             f"{r.machine.get('Cores', '?')} cores, cores / total is the most units per second the machine could "
             "do if nothing else ran and every process could use every core (one process is one core at most). "
             "Divided by the figure's ceiling of the same run, it is the highest ratio this machine allows the "
             "figure at that cost per unit (at most): a target above it needs less CPU per unit, not less "
             "waiting. **Total at the target** turns it around: the most CPU a unit may cost, all processes "
             "together, for the target's rate to fit in the cores at all (at full use, which no figure "
             "reaches). **Cores busy** is the share of the cores these processes used during the figure's runs "
             "(their CPU seconds over the runs' wall clock, the load generator's start and stop included, so a "
             "little low): well below 100%, the figure waits (round trips, locks, "
             "one process's event loop) rather than runs out of CPU. **Busiest service at the target** is the "
             "share of one core that the service costing the most per unit would need at the target's rate, per "
             "process (two for the rows with two replicas): a Python process runs on one core at most, "
             "so above 100% the target is out of reach of that many processes at that cost per unit, however "
             "idle the machine.",
             "",
             "| figure | units | " + " | ".join(cols)
             + " | total | cores / total | ratio at most | total at the target | cores busy "
             "| busiest service at the target |",
             "| --- | ---: | " + " | ".join("---:" for _ in cols) + " | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for figure, acc in sorted(r.cpu.items(), key=lambda item: (not item[0].startswith("C"), item[0])):  # ceilings first
        units = acc.get("units", 0.0)
        if units <= 0:
            continue
        per = {c: acc.get(c, 0.0) / units * 1e6 for c in cols}
        total = sum(per.values())
        bound = cores * 1e6 / total
        row = _CPU_ROWS.get(figure.split(" ", 1)[0])  # by the row's figure number: "1b" of "1b batch ..."
        ceiling = _ceiling_of(r, row)
        most = f"{bound / ceiling[1]:.2f}×{ceiling[0]}" if ceiling else "—"
        target = targets.get(row.target) if row and row.target else None
        allowed = f"{cores * 1e6 / (target * ceiling[1]):,.0f} µs" if ceiling and target else "—"
        wall = acc.get("wall", 0.0)
        busy = f"{sum(acc.get(c, 0.0) for c in cols) / (wall * cores):.0%}" if wall > 0 else "—"
        busiest = "—"
        if row and ceiling and target:
            service = max(_SERVICES, key=lambda c: per[c])
            processes = 2 if service == row.twice else 1
            busiest = f"{service} {per[service] * target * ceiling[1] / processes / 1e6:.0%}"
        lines.append(f"| {figure} | {units:,.0f} | " + " | ".join(f"{per[c]:,.0f} µs" for c in cols)
                     + f" | {total:,.0f} µs | {bound:,.0f}/s | {most} | {allowed} | {busy} | {busiest} |")
    return [*lines, ""]


# the Python services of the CPU table (postgres, rabbitmq and the load generator are not bound to one core)
_SERVICES = ("tracking", "receipts", "complaints", "notifier", "web")


class _CpuRow(NamedTuple):
    """What the CPU table needs of a row's figure."""

    ceiling: str  # the ceiling its ratio is of
    target: str | None  # its bench.main.TARGETS key, None: no target of its own
    twice: str | None = None  # the service run as two processes, sharing its CPU


# by the row's figure number
_CPU_ROWS = {"1": _CpuRow("C1", "batch"), "1b": _CpuRow("C1", "batch_fleet"),
             "1r": _CpuRow("C1", "batch_2r", "tracking"), "1br": _CpuRow("C1", "batch_fleet_2r", "tracking"),
             "2": _CpuRow("C2", "osmand"), "2r": _CpuRow("C2", "osmand_2r", "tracking"), "2a": _CpuRow("C2", None),
             "3": _CpuRow("C3", "pipeline"), "T": _CpuRow("C2", "track"), "9r": _CpuRow("C2", "track_2r", "web")}


def _ceiling_of(r: Results, row: _CpuRow | None) -> tuple[str, float] | None:
    value = r.median(row.ceiling.lower()) if row else None
    return (row.ceiling, value) if row and value else None


def _limits_section(r: Results) -> list[str]:
    lines = ["## What limits it", ""]
    lines += [line for line in LIMITS_TEXT.strip().splitlines()]
    lines.append("")
    if r.profiles:
        lines += ["### Profiles of this run", "",
                  f"py-spy (`record {' '.join(profiling.options())}`, on-CPU samples only) of the service process "
                  "during one extra load run, not counted in the table. Share of the samples in which the function "
                  "is on the stack (inclusive) and on top (self).", ""]
        for title, prof in r.profiles.items():
            if not prof:
                continue
            lines += [f"**{title}** — {prof.get('samples', 0)} samples"
                      + (f", {prof['rate']:.1f} req/s during the profile" if prof.get("rate") else ""), "",
                      "| inclusive | function | | self | function |", "| ---: | --- | --- | ---: | --- |"]
            inc, slf = prof.get("inclusive", []), prof.get("self", [])
            for i in range(max(len(inc), len(slf))):
                a = inc[i] if i < len(inc) else ("", 0.0)
                b = slf[i] if i < len(slf) else ("", 0.0)
                lines.append(f"| {a[1]:.0%} | `{a[0]}` | | {b[1]:.0%} | `{b[0]}` |" if a[0] else
                             f"| | | | {b[1]:.0%} | `{b[0]}` |")
            lines.append("")
    else:
        lines += ["(No profile in this run: py-spy is not installed or the scale is tiny. "
                  "`.venv/bin/pip install py-spy` and rerun.)", ""]
    return lines


LIMITS_TEXT = """
Written from the CPU table above, py-spy profiles of the services and `perf` profiles of the PostgreSQL
backends during bench runs on this machine (the tables under "Profiles of this run" are this run's), and
the group-commit histograms. The ceilings are single mechanisms running alone; every figure runs the
service, PostgreSQL, RabbitMQ and the load generator on the same two cores, so a figure's ratio is bounded
by how much *total* CPU one unit of work costs, and a Python service is one core at most. When other jobs
load the machine, the ceilings and the figures do not move together (every unit of work costs about twice
the CPU on a busy day, but a raw COPY or a bare endpoint has less of it to spend), so the same code shows
different ratios on different days: compare the CPU table between runs.

**What the targets ask of this machine.** The CPU table's last three columns put each target beside the
cost of a unit: the most CPU a unit may cost, all processes together, for the target's rate to fit in the
two cores; the share of the cores the figure's runs kept busy; and the share of one core the costliest
service would need at the target's rate. Where the first is below the measured total, or the last above
100%, no scheduling fixes it: the work per unit must shrink (or the service run as more processes).
Where the cores are far from busy, the figure waits on round trips and on one process's event loop.
**Where that leaves issue 24's bars (this round's two full runs).** On a quiet machine (code 144443c;
C1 219k rows/s, C2 10.9k req/s) the table allowed figure 1 at most 0.55×C1 and figure 1b 0.39×C1 at
their cost per position (tracking 7 and 9 µs, PostgreSQL 9 and 14, the load generator 1; C1's own row:
PostgreSQL 5 µs, its client 1), the cores 76% busy, and the figures came to 0.404 and 0.285; the run
above, on a busier machine, allows 0.44 and 0.35. Both bars are above what the machine can do at that
cost even with its cores fully used, which no figure reaches: meeting them needs roughly a quarter to a
third less CPU per position, tracking and PostgreSQL together. /osmand (figure 2) is not bound by CPU
(cores 54 to 57% busy; at most 1.17 to 1.33×C2 by the table) but by its group commit's round trips on
tracking's one event loop, about 2 ms a group of 16 devices.
The table's first row is C1's own cost (since this round): in its first readings (normal size, one run
each, and two large runs, on a busy day) a raw `COPY` cost PostgreSQL 8 to 9 µs and its
client 2 µs a row, 10 to 11 µs in all with the cores 86 to 88% busy, while figure 1 in the same runs
cost PostgreSQL 10 to 11 µs and tracking 10 to 11 µs a position.
PostgreSQL's share of a stored position is within about 2 µs of the `COPY` alone (the claims, the rows
read, the vehicles moved and the evaluation's writes, 25 vehicles a batch); the rest of the gap to
0.6×C1 is tracking's Python. At equal use of the cores, 0.6×C1 allows a position about 11 / 0.6 = 18 µs
in all: with PostgreSQL at 10, tracking at about 7 µs a position, against the 11 it costs. In a native
profile of figure 1 (`LCS_BENCH_PROFILE_NATIVE=1`) the largest single item of tracking's samples is the
`write` system call (about 14%): a batch sends nine messages (the HTTP response and eight to PostgreSQL
over seven round trips: the claims with `BEGIN`, the rows, the `COPY` statement, its data and its end,
the shipments on board, the statement that moves the vehicles, `COMMIT`), and on loopback each `write`
also runs the receiving side's TCP processing and wake-up; py-spy counts a thread in `write` as busy
even while the backend it woke runs on its core, so that share is partly waiting.
What a unit costs, taken apart on this machine
(measured with the backend's `/proc/<pid>/schedstat` around each statement of an /osmand group of 11
fixes of 11 vehicles, replayed against the real schema on an idle machine): PostgreSQL spends about
1 ms per group, `BEGIN` 46 µs, `claim_vehicles` 190, the statement that stores the fixes and moves the
vehicles 580 (in its plan: the 11 inserts into `positions` 150 to 200 µs, the 11 vehicle updates about
200, their row locks in id order about 60), `COMMIT` 160, close to the table's PostgreSQL share per
request; an inserted or updated row costs it 10 to 20 µs here. Tracking's own CPU for the same group is
0.8 to 1.1 ms, about half of its CPU per request, the HTTP layer and the event loop the other half.
asyncpg encodes an array parameter element by element, each element first checked against
`collections.abc.Iterable` in Python (about 0.15 µs), a `timestamptz` element costing about 0.9 µs
against 0.27 µs for a `float8`. Since bf4cc44 the closing statement takes its rows as one JSON
parameter (`shared.sql.json_rows`, the packed tracks still bytea arrays beside it): measured on that
statement alone, the two versions alternated in one process over the real schema, tracking's CPU for
it fell from about 625 to 420 µs a group of 11 and PostgreSQL's rose from about 1,070 to 1,195 µs (it
parses text where it took binary): less CPU in all, and less of it in the one-process service.
Measured and not taken this
round: moving the vehicle's stored track out of its row (with a copy of the table, 11 rows updated per
transaction, the 1.5 kB track in the row made no difference PostgreSQL's CPU showed: 333 and 370 µs per
transaction with it, 340 and 357 without; nor can TOAST move it out of line: with `toast_tuple_target`
128 and the column's storage `EXTERNAL` the table kept its size, PostgreSQL calling the toaster only for
rows above about 2 kB); taking the id-order locks as advisory locks
instead of the row locks (the row locks cost about 4 µs a vehicle, 45 µs a group of 11 and 270 a batch of
100, the advisory ones more). The bench's fleets are small (32 to 330 vehicles), so the
planner reads `vehicles` by sequential scan in the claim and in the closing statement; with the
statistics of a fleet of thousands the same generic plans use the primary key.

**Figure 1's fleet is issue 24's since this round: 200 vehicles, 50 per connection in row 1 and all 200
in every batch of row 1b.** It was 25 per connection and 100, and the readings of earlier rounds below
were taken at that size: the issue's two load shapes are one fleet of 200, and at 100 a whole-fleet batch
carried 5 s of fixes over 100 vehicle rows where the issue's carries 2 to 3 s over 200. Measured
alternately on this machine (normal size, one run each, C1 206k and 220k rows/s): own share 0.350 on the
issue's fleet against 0.379 on the smaller one, whole fleet 0.230 against 0.333, with two tracking
processes 0.447 against 0.534 and 0.297 against 0.461. Figure 1 now carries 10 s of each vehicle's feed
per batch (evaluated about every other batch, 50 vehicle rows moved) and cost tracking 10 and PostgreSQL
10 µs a position against 9 and 8; figure 1b cost 15 and 17 against 10 and 10: in a whole-fleet batch
each vehicle costs about 25 µs of tracking and 35 µs of PostgreSQL (read and claimed, its fixes grouped
and sampled, moved by the closing statement; 15 to 25 and 25 to 35 µs from the other comparisons), so
that 200 vehicles weigh more than the 500 fixes themselves. Target 1 was read on the smaller fleet until
this round, which flattered it by about a third.

Measured this round and not taken: the vehicle row's update is seldom heap-only (HOT).
`vehicles.evaluation_due_at` has a partial index (migration 0014), and PostgreSQL cannot update a row
HOT when a column of an index, or of its condition, changes; a feed sets the due time (a fix not
evaluated) and the next evaluation clears it, about every other batch of figure 1. Counted from
`pg_stat_user_tables` during one run: 112 of 64,950 vehicle updates HOT in figure 1 and 80,956 of
104,755 in figure 1b; with the index dropped, 69,600 of 70,100 and 105,971 of 107,650. The due times in
a table of their own (a row while due: e070aa6, reverted by f0b977e) kept the updates HOT but was not
measurably better in four alternating pairs (figure 1b 0.19 to 0.27×C1 with it, 0.24 to 0.31 without;
PostgreSQL 15 to 23 µs a position either way); dropping the index gave PostgreSQL 1 to 2 µs a position
less in two pairs, but leaves the trailing worker a scan of `vehicles` every second on every replica,
dearer than the saving at fleet scale.

Taken this round: two reads that searched an array element by element for every row of a table. An
array that is not a constant of the statement (a parameter of a generic plan, a PL/pgSQL variable, an
InitPlan's value) gets no hashed `= ANY` (PostgreSQL 14+ hashes constants only), and on a table of a
few hundred rows, which the planner reads whole, each row is compared with every element. The batch
path's read of the claimed vehicles (`begin_and_claim`) tested `vehicle_id = ANY(<the claims>)` twice
a row: replaying whole-fleet batches of 500 fixes over 200 vehicles, its PostgreSQL CPU (the backend's
`/proc` schedstat) fell from 3.2 to 3.3 ms to 1.5 to 1.9 ms a batch with the claims joined by hash,
about 3 µs a position, and to 0.8 to 0.9 ms with the ids joined too (`WHERE vehicle_id = ANY($1)` had
tested each row of the table against every id: in figure 1's shape, 50 vehicles a batch, the read fell
from 340 to 510 µs to 220 to 240). `claim_vehicles` read `devices` whole for an /osmand group's 16 device ids
among 330: with the function kept on its indexes (migration 0022), 260 µs a call instead of 400
(eight alternating rounds of 150 calls; at 2,000 devices, where the planner chose the index anyway,
the same). In the figures, each within the machine's noise this round (C2 ran from 4,200 to 6,000
req/s during the A/B runs, against 10,300 in the last round's full run): PostgreSQL's share of an /osmand
request 64 to 105 µs after, 85 to 124 before. On tracking's side of the same read: asyncpg decodes a
`timestamptz` in about 1.25 µs (against 0.4 µs for a whole row of one `int8`, measured on 2,000 rows),
and the read carried five a vehicle; it now reads of a vehicle another batch holds only what an ingest
uses of it (id, carrier, newest fix time), the rest NULL: with 150 of 200 vehicles held elsewhere,
tracking's CPU for the read fell from 2.2 to 3.0 ms to 1.6 to 1.8 ms a batch.

Taken since: the batch ingest's last statement (the one that locks the vehicle rows) and its `COMMIT`
go in one round trip (`shared.db.execute_and_commit`: the statement prepared on every pooled connection,
run as `EXECUTE ...; COMMIT` with its arguments written as constants). Where the time of a whole-fleet
batch goes, from `pg_stat_activity` sampled every 5 ms during figure 1 (normal size; backends on
average, of 4): before, 0.36 to 0.39 sat idle in a transaction after that statement, locks held,
waiting for tracking to send the `COMMIT`, about as many as ran the statement (0.44 to 0.47), and 0.45
to 0.50 waited for its row locks; after, that idle time is gone and the lock waits are 0.16. The rest
of a batch's time is the backends waiting for tracking between statements: after the claims 0.26 to
0.35, after the rows' read 0.43 to 0.47, after the `COPY` 0.34 to 0.42, after the shipments on board
0.16 to 0.19, against 0.25 running the `COPY` and 0.14 to 0.19 flushing the WAL at commit. Replayed
(200 vehicles, 3 in 4 held by another transaction), tracking's CPU per batch fell from 1.43 to 1.52
ms to 1.07 to 1.13 ms for the statements it sends, PostgreSQL's unchanged (4.4 to 4.7 ms). Figure 1b
moved within the noise: 0.233 to 0.270 before and 0.263 to 0.275 after in three alternating pairs,
63.8k and 64.8k positions/s before against 64.9k and 63.6k after in two more: with the lock waits
mostly gone, a whole-fleet batch waits on tracking's one event loop, which about 4.5 ms of CPU per
batch keeps more than half busy, so the figure follows tracking's CPU per position (row 1br, two
tracking processes, gave 0.31 to 0.39 in the same runs).
Measured and not taken: one /osmand group of all 32 devices instead of two alternating groups of 16
(the committer, holding fewer fixes than the devices, waited up to 2 ms for the rest): groups of 31.2
fixes committed in 2.7 to 2.8 ms against 2.1 to 2.3 ms for 16, but the wait for the second half cost as
much as the larger group saved (6,819 and 7,068 req/s against 7,776 and 6,878, two alternating pairs).

**Figure 1, batch ingest (the readings of earlier rounds, 25 vehicles per connection): tracking's
Python, about 5 to 6 µs per position, PostgreSQL about 4 µs on a quiet machine; 10 to 13 and 7 to 8 µs
on a busy one (they were 17 and 12, busy, at the start of the
round of work before last).** Each batch carries
20 s of 1 Hz fixes per vehicle, more than the evaluation interval, so every batch evaluates every
vehicle's shipments. Tracking is one process, one core at most, and it is the bottleneck (over 90% busy
during the runs): 1 / 12 µs caps the rate near 83k/s, while 0.4×C1 needs 80k to 88k/s when C1 is 200k to
220k rows/s. Medians of three ran from 0.33 to 0.41×C1 on a busy machine and from 0.42 to 0.46×C1 on a
quiet one (C1 320k to 350k rows/s, tracking 5 to 6 µs per position); the last round's full runs gave
0.41 and 0.42 on a busy machine (C1 about 205k rows/s) and 0.475 on a quieter one (C1 248k). Measured in
the last round and not taken: without the evaluation (`LCS_EVALUATION_INTERVAL_SECONDS` 3600) the
figure is about a quarter higher, so the evaluation of 25 vehicles per batch is about a fifth of the
work; storing a batch with `INSERT ... SELECT unnest(...)` in the vehicles' statement instead of `COPY`
cost more in both tracking and PostgreSQL (11 µs each per position); a hand-built binary `COPY` buffer
(`struct`, per field) cost as much client CPU as asyncpg's encoder. Taken since: the binary stream built
per batch (`feeds.pgcopy`: each distinct time and vehicle encoded once, a row's floats packed by
precompiled `struct`s; about half the COPY's client CPU in a micro-benchmark, and 17 → 14-16 µs of
tracking per position in A/B runs of figure 1 on a busy day, a Hypothesis property holding it to
asyncpg's encoding). Taken: the evaluation's recent-speed
window is found by binary search and its speeds filtered in C, and a time already in UTC is not converted
again (the evaluation's Python per vehicle fell from about 30 to 20 µs in a profile harness).
Done, in order of effect (each from a profile or an experiment): the delay
evaluation batched per transaction, over a *sampled* track (`domain.sample_track`) of plain numbers;
each vehicle row carries its recent sampled track (`vehicles.recent_track`, packed float64s), kept by
the transaction that stores the fixes, so the evaluation no longer reads its fixes back from `positions`
(that read, one heap page per fix, was a third of PostgreSQL's work per batch); the body read by orjson
and checked a column at a time (`feeds.parse_position_batch_fast`, `domain.positions_within_limits`: min,
max and sum in C; each distinct time matched and parsed once); the request answered behind the guard but
in front of FastAPI (`api.positions_fast`); a batch of fixes all newer than their locked vehicles'
`COPY`ed without a savepoint; the vehicles' `UPDATE` reads the evaluated vehicles' shipments in the same
round trip; a token that passed is remembered until it expires; the collector's young threshold raised
(a batch's objects are all alive for the whole request). What remains is spread thin: the `COPY` (its
stream built per batch, above; the vehicles' statement and the delay states take their rows as one JSON
parameter since bf4cc44, for 25 vehicles about 925 → 590 µs of tracking's CPU measured alone), orjson
reading the body, the event loop and HTTP, and the evaluation
of 25 shipments per batch. The next step is more tracking processes (workers or replicas): the batch path
holds no state between requests, and concurrent batches of the same vehicles wait for each other only for
the statement that ends each (the vehicles moved, row-locked in id order; evaluations are claimed, never
waited for).
Sampling PostgreSQL's `pg_stat_activity` during the runs shows why: its backends mostly wait for
tracking (`ClientRead`, about 60% of the samples of busy backends), then for the WAL flush of the
commits (about 15%), hardly ever for a row lock (`Lock:transactionid`, 3%). Rows 1r and 1br measure
that step: a second tracking process on its own port, the four connections alternating between the
two as a Kubernetes Service spreads them over two pods. In the first measurement (two runs, a busy
machine) it raised the own-share figure from 0.34 to 0.42×C1 and the whole-fleet one from 0.29 to
0.33×C1: both processes share two cores with PostgreSQL, so the gain is what the machine's idle share
allows, not a second core each. Rows 2r and 9r ask the same of /osmand (a second tracking process) and
of the public page (a second web process). In their first run (normal size, two runs each) neither
gained: /osmand 6,022 → 6,224 req/s and /track 2,668 → 2,728, the cores 92 to 94% busy instead of 65 to
67%, and every process's CPU per unit about a third higher with two (tracking 116 → 153 µs a fix, its
groups half the size; web 282 → 393 µs a look-up; PostgreSQL 80 → 123 and 104 → 148 µs). In four full
runs at the large size: /osmand 0.524, 0.436, 0.495, 0.495×C2 with one process and 0.432, 0.458, 0.454,
0.460 with two; the public page 0.243, 0.236, 0.167, 0.179 and 0.225, 0.284, 0.169, 0.261 (it gained in
the two runs on the busiest machine, still short of 0.3). On two cores shared
with PostgreSQL, a second process spends what the first left idle on doing the same work less
efficiently; these figures need less CPU per unit, not more processes.

**Figure 1b, whole fleet per batch (the readings of earlier rounds, a fleet of 100): the same work as
figure 1 plus what four times as many vehicles per batch cost (each batch moved 100 vehicle rows instead
of 25), about 13 to 14 µs of tracking and 12 to 13
µs of PostgreSQL per position on a busy machine against 11 to 12 and 9 in figure 1.** Nothing waits on a
lock for long: rows are read without one, evaluations are claimed and never waited for, and only the
statement that ends a batch locks its vehicles (in id order). Two things made concurrent batches of one
fleet cost each other more than that, both found with `pg_stat_statements` on a second cluster: every
batch sampled the vehicle's track from the newest sample it read, so batches in flight at once each
sampled the same minute; the 30-minute stored track then outgrew the 48 rows a vehicle row keeps, was
cleared, and was read back from `positions` at every batch (`recent_tracks`, 5,000 buffer hits and 11 to
30 ms a call, the biggest PostgreSQL cost after `COPY`). Now only the transaction holding the vehicle's
evaluation claim samples it (claims follow one another, each holder reading the row after the previous
one committed), the others store their fixes unsampled and leave the stored track alone; and a vehicle a
later batch has already moved past every fix of this one is neither locked nor rewritten. PostgreSQL's
CPU per position fell from 25 to 12 to 13 µs and the figure from 0.13 to 0.17 to 0.28 to 0.35×C1 in
one-run measurements on a busy machine. What remains is per-vehicle work in proportion to the vehicles
a batch touches: the rows read, the Python per vehicle, and 100 row versions written per batch.

**Figure 2, /osmand: about 0.11 ms of tracking CPU and 0.06 ms of PostgreSQL per request on a quiet
machine, 0.16 to 0.20 and 0.08 to 0.10 ms on a busy one (0.21 and 0.09 ms, busy, before the last round of
work).** The usual request is answered by the HTTP protocol itself (`api.OSMAND_DIRECT`, a
`shared.fastpath.http.DirectRoute`): the fix is parsed from the request line and queued for the group
commit as the headers end, and the response is written when its commit's future completes, with no
ASGI cycle and no task per request (uvicorn's `RequestResponseCycle`, its `asyncio.Event`, a task stepped
twice and the ASGI messages cost more than the route's own work). Row 2b measures that layer alone, the
same route on the ASGI path and answered directly, in turns: in its first measurement 37 to 38 against 31
to 32 µs of server CPU per request, a sixth of the layer but only 4 to 8% of a request's tracking CPU,
less than figure 2's run-to-run variation on this machine resolves. What the protocol declines (a body,
a pipelined request, no committer running) goes to a fast route in front of the whole app
(`api.osmand_fast`, `shared.fastpath.routes.FastRoutes` as `ServiceApp.front`: none of Starlette's
middleware, FastAPI's routing, dependency injection or Request/Response objects, only uvicorn). The
query is split without `parse_qsl` when nothing in it is escaped (`shared.fastpath.routes.query_params`),
and the response leaves in one socket write (`shared.fastpath.http`: uvicorn writes the headers and the
body separately, each a `send` and a wakeup of the client; that is also why tracking's `/livez`, row 2a,
can pass C2). The rest is the request's
share of its group commit (about ten fixes per group with 32 devices: vehicles claimed through the device
map and read, in one round trip (the database function `claim_vehicles`, whose two statements each take a
snapshot of their own: 7 to 11% more requests a second than as two statements, in A/B runs), the fixes
stored and the vehicles moved in one statement, `COMMIT`). Each group waits for its round trips on a
busy event loop and for the WAL flush; the committer keeps its connection between groups, and under load
the next group's `BEGIN` goes in the same round trip as the `COMMIT` (`feeds.OsmandGroupCommit`). One
committer, not two, since this round: the next group forms while one commits, so the groups grow with the
load. In A/B runs (normal size, three pairs) two committers made groups of 11 fixes instead of 16 and cost
tracking 190 to 218 µs and PostgreSQL 132 to 143 µs a request, against 163 to 178 and 93 to 107 with one
(p50 9.5 against 7.3 ms); three were slower still (groups of 8). Measured this round and not taken: two
committers of which one starts a group beside the other's only once it holds an equal share of the
callers waiting (counted at each group's start, the largest of the last eight counts), so that the groups
keep their size: they did (15.5 to 15.9 fixes), but two commits at once each took about 4 ms instead of
3, and the rate did not move (4,981 and 5,175 req/s against 5,148 and 4,896 with one committer, two
alternating pairs at normal size): the commits wait on the one event loop and the machine's two cores,
not on each other. The commit's future per request was
made on the loop `asyncio.get_running_loop()` returned, a `getpid()` system call on Python 3.11 (about
2% of tracking's samples in a native profile); the committers keep their loop now.
Measured this round and not taken: reading the shipments on board of the vehicles due for evaluation
in the claim's own round trip (a `claim_vehicles` overload given each device's newest fix time and the
bound of the evaluation interval, reading and locking the due vehicles' shipments in the statement that
reads their rows: three round trips a group instead of four). A micro-benchmark of the claim alone gave
PostgreSQL about 15% less CPU, but in five A/B pairs of figure 2 (normal size) the group commits took 4.2
to 4.7 ms against 3.6 to 4.4 without it, and PostgreSQL's CPU per request rose from 96 to 110 µs to 117
to 119 µs: the function's plan over the real rows costs more than the round trip saves (1e526f9,
reverted by 13dde33).
A live feed re-evaluates a vehicle's shipments at most once per
`LCS_EVALUATION_INTERVAL_SECONDS` (15) of its feed (`domain.evaluation_due`): the bench's devices send
fixes 1 s apart in feed time, like 1 Hz trackers, so about one request in 15 pays the evaluation (the
shipments with their stations, the sampled track, the rules) — the row above gives the measured share.
Before that rule, the evaluation at every fix was more than a third of the request's CPU; a device
reporting every 15 s or less often is still evaluated at every fix, and a 1 Hz device's delay notice can
wait up to the interval (figure 4 measures a vehicle due for evaluation). Evaluations that only refresh
an ETA by seconds are not written (`domain.delay_state_worth_saving`), and the vehicles' fix update is
heap-only (migration 0006).

**Figure 3, event pipeline: about 0.6 to 0.7 ms of CPU per event across six processes on a quiet
machine (0.7 to 0.8 ms before the last round of work; about twice that on a busy one).** Every
`tracking.shipment.registered.v1` is consumed by receipts, complaints and notifier, while the relay
publishes with confirms and RabbitMQ routes each event into three quorum queues (C3 is one queue, one
consumer, no database). Done: the consumer handles what is waiting in one transaction, and under load
lingers a moment for what is on its way (`LCS_CONSUMER_LINGER_MS`) so groups grow; registrations go to
set-based group handlers (a few statements per group instead of two to five per event); a group is settled
with one `ack(multiple=True)`; deliveries are read straight off aiormq (aio-pika's message object and extra
task per delivery cost a good part of each event); the relay publishes a batch under one deadline, straight
on aiormq too (aio-pika's `Message` per event was a quarter of the relay's CPU). Last round: a relay batch
leaves in one socket write (`shared.bus._Connection`). aiormq's write queue held 10 frame sets, so from the
11th publish on a batch went out one publish per turn of the event loop, each its own `send` and its own
read for the broker; with a queue longer than a batch, publishes that do not wait for the writer, and a
writer that joins what one turn wrote, the relay's CPU per event fell from about 65 to 40 µs and
RabbitMQ's from about 180 to 135 µs. And complaints inserts a new waybill's view whole, where it created
an empty row and then updated it (PostgreSQL's share of that fell from about 40 to 10 µs per event; the
lookup of stored views is prepared per call, since a generic plan cached while the table was small is a
sequential scan). This round: what the broker sends is read in chunks and the frames of a delivery and of
a confirm are built directly (`shared.fastpath.frames`; aiormq read each frame in three `readexactly`
calls and pamqp decoded it field by field, about a fifth of each consumer's CPU): each consumer's CPU per
event fell by about a fifth (receipts 158 to 124 µs, complaints 184 to 145, notifier 156 to 124 in one
before/after pair on a busy machine). And the envelope is read by orjson and validated in Python mode
(`shared.wire.read_envelope`): pydantic's JSON parser built the event's `data` about three times slower
than orjson, 12 against 6 µs per envelope of 1.2 KB (one pass over a typed envelope, 15 to 10 µs with
the payload, was not taken: the envelope's `data` would no longer be the dictionary its type says).
Then: the relay frames a batch in one pass (`shared.fastpath.publish`): each publish's three frames
written directly, the batch queued as one frame set under the channel's lock taken once, and the
confirmations awaited as futures; N `basic_publish` calls under `gather` had cost a task, a lock, a
countdown and pamqp's generic marshalling per event, about half the relay's CPU and as much again in
the event loop scheduling the tasks. And a delivery is checked in the channel's reader
(`shared.fastpath.channel`): aiormq started a task per delivery for a consumer that queues the event
without waiting on anything. In three interleaved before/after pairs of figure 3 on one busy machine,
the relay's CPU per event fell from 75–101 to 20–23 µs, the consumers' by about a sixth (receipts
146–181 to 118–155 µs, complaints 179–225 to 142–170, notifier 149–184 to 119–146), and the events per
second rose by about a third. What is left is spread over the processes: RabbitMQ's three queues and
PostgreSQL (about half of the total), the groups' SQL, and pydantic validating each envelope and its
payload (a sixth of a consumer).

**Figure 4, latency.** The stages in the table show where the time goes: relay → quorum-queue confirm →
notifier consumer transaction, then the dispatcher's claim, SMTP and SMS.

**Figures 7 to 9, the web service (issue 24).** Figure 7 measures the live path of a delay: tracking's
evaluation and outbox, the relay and RabbitMQ, web's consumer (one `pg_notify` in its inbox transaction),
web's LISTEN connection and `LiveHub.publish`, which copies the message into every open stream's queue;
each stream's generator then writes one chunk. The stream holder (bench/live_client.py) is one process
with a bare asyncio protocol per stream, stamping each read as it arrives: its CPU share while it waits
is in the row, so a slow holder would show. Memory per stream is the growth of web's RSS from before the
streams to all of them open (the first tenth are opened first: the route's one-time costs — imports,
compiled templates, allocator arenas — land there, and the rest give the marginal cost). Figure 8
renders the desk's pages through web at figure 5's two sizes with the desk's live part (delayed
shipments, open complaints, receipts at risk) the same at both; the indexes named are those whose
`pg_stat_user_indexes.idx_scan` moved during each of two extra renders and not during equal waits without one,
and "tables read whole" those whose `seq_scan` moved (small tables are read whole by design: the plans
choose it). Figure 9 is the public `/track` form with the right digits, per request one waybill lookup
in tracking plus web's per-address limiter, digit lock and audit. Its cost per request is the two
services' HTTP stacks, web's page, and the request's share of three group calls: web's one statement
counting the addresses' limits and reading the digit locks of the look-ups of the moment
(`SharedWindows.take_reading_many`), one request to tracking for their views
(`POST /v1/public/shipments/lookups`, one statement there), and the audit rows (`shared.grouped`: each
a `GroupCall`, one in flight while the next group forms, every page sent only once its own answers are
in). Before the grouping, each look-up made its own request to tracking and its own two statements, and
a request's HTTP layers, the driver's round trips and PostgreSQL's per-statement work cost several times
the look-up's own work; in A/B runs of this figure at the normal size (the same machine, interleaved)
the grouped call to tracking cut the CPU per look-up from 1.9 to 1.15 ms and from 2.6 to 1.5 ms on a
busier run (tracking about 60% less, PostgreSQL and web about 30% less), and the grouped limit a
further 15 to 25% (1.30 → 1.09 ms, 1.39 → 1.04 ms: PostgreSQL's share about 40% less). The grouped
statement passes its numbers as one JSON array: over `unnest` of arrays PostgreSQL planned it again at
every call (its row estimate follows the value) and planning that query costs more than running it for
ten numbers. What remains is mostly web's (about 60%): the HTTP stack and its middleware around the
fast route (security headers, the guard, the error middleware, each wrapping the response's messages),
the page's template, the form parsing and the event loop. The form was about 8% of web's samples:
python-multipart walks the body byte by byte in Python (13 µs a form measured alone); a plain form is
now read without it (`shared.fastpath.routes.form_fields`, 1.7 µs, a property holding it to
Starlette's parser) since commit 564f88b. The template was half of web's
CPU per look-up: about 155 µs for a page with a six-event timeline, measured alone. Jinja reads
`view.stage` on a plain dict by trying the attribute first, raising and catching an AttributeError
each time, about 60 times a page; web's `PageEnvironment` reads a name that is not an attribute of
`dict` as the key at once (Jinja's own answer in every case, a property holds it to the stock
`getattr`), 155 → 119 µs. The page at `/track` renders its shell (the head, the header, the other
blocks) once per language and only its `main` block per request (`Templates.render_in_shell`, a
property renders pages both ways), 119 → 97 µs; each timeline event costs about 9 µs more. In
normal-size runs web's CPU per look-up fell from about 310 to 285 µs, about 95% of one core at the
target's rate; the figure still reaches only about 0.24×C2, its 32 connections each waiting about 11 ms
a look-up with the cores two thirds busy. Two things tried did not move it: sending a look-up's question
to tracking while its limit is checked (three group calls in a row become two; p50 and rate unchanged
in A/B runs, so not kept: it would also have asked tracking for the views of look-ups over their
limit), and two group calls in flight at a time instead of one. Earlier rounds:
web's calls to the backends go through its own pool (`services/web/backends/transport.py`; httpcore's
walked every connection twice per request and polled each idle one with a system call,
encode/httpcore#928) and straight to it, not through an `httpx.AsyncClient`; tracking reads a look-up
in one statement (the row, the timeline and the stations' cities together; it was three); both
services answer the look-up in front of FastAPI (guarded fast routes, each with a differential test).
This round, from py-spy's native profiles (`LCS_BENCH_PROFILE_NATIVE=1`, C frames included: the system
calls show), web's CPU per look-up fell by about a tenth (9r: 634 to 643 µs before, 569 after, on the
same day): `asyncio.get_running_loop()` makes a `getpid()` system call on Python 3.11, and each of the
three group calls made one per look-up (2.5% of web's samples; `GroupCall` now takes the loop from its
running flusher task); FastAPI's own OpenTelemetry layer looked up the global providers on every request
to find them unconfigured (about 3%; off: the services report through Prometheus); the page's language
built Starlette's `Headers` and parsed every cookie, twice a page (2%; now read once from the raw
headers and kept in the scope, a property holding it to Starlette's reading); the guard's metrics called
`labels()` twice a request (2%; it keeps the labelled children, as the fast routes did); httpx parsed
the backend's URL from text at every call (40 of the 70 µs an `httpx.Request` cost; parsed once now).

**Figure 5.** Every query is an index range read whose result size does not grow with history (see the
index list above), so ratios around 1× are the expected result; at one to a few milliseconds per query, the
machine's noise moves a single run's ratio by tens of percent either way (compare runs).
"""
