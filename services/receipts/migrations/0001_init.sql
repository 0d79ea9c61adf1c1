-- receipts schema (search_path = receipts). Times are timestamptz; codes and texts bounded.

-- What tracking told us about a waybill, whether or not its registration has arrived yet.
-- Events can come out of order (delivered before arrived before registered): every
-- handler first upserts this row, which also serialises the handlers of one waybill
-- (the upsert holds the row lock until commit), then applies the facts to the receipt
-- if there is one. Registration merges whatever facts are already here.
CREATE TABLE shipment_facts (
    waybill_no       text PRIMARY KEY CHECK (length(waybill_no) BETWEEN 1 AND 64),
    registered_at    timestamptz,
    receipt_required boolean,
    final_arrived_at timestamptz,          -- the latest final (all pieces) arrival seen
    delivered_at     timestamptz,          -- the earliest delivery seen
    delivery_note    text CHECK (length(delivery_note) <= 500),
    updated_at       timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE receipts (
    waybill_no          text PRIMARY KEY CHECK (length(waybill_no) BETWEEN 1 AND 64),
    status              text NOT NULL CHECK (status IN (
                            'awaiting_delivery', 'signed', 'abnormal', 'qualified', 'mailed',
                            'received', 'handed_over', 'written_off', 'cancelled', 'lost')),
    required            boolean NOT NULL DEFAULT true,
    req_signature       boolean NOT NULL,
    req_stamp           boolean NOT NULL,
    req_id_number       boolean NOT NULL,
    req_copies          integer NOT NULL CHECK (req_copies BETWEEN 1 AND 100),
    payment             text NOT NULL CHECK (payment IN ('prepaid', 'cod', 'monthly')),
    origin              text NOT NULL CHECK (length(origin) BETWEEN 1 AND 32),
    destination         text NOT NULL CHECK (length(destination) BETWEEN 1 AND 32),
    via                 text[] NOT NULL DEFAULT '{}',
    transfers           integer NOT NULL CHECK (transfers >= 0),
    origin_region       text CHECK (length(origin_region) <= 100),
    destination_region  text CHECK (length(destination_region) <= 100),
    -- The region the month-end report and the `region` filter use: the destination's,
    -- because the destination station is the one that must send the paper back.
    region              text NOT NULL CHECK (length(region) BETWEEN 1 AND 100),
    station_contact     jsonb,             -- destination station contact {name, phone, email}
    registered_at       timestamptz NOT NULL,
    arrived_at          timestamptz,       -- final-batch arrival at the destination
    delivered_at        timestamptz,
    due_at              timestamptz,
    final_due_at        timestamptz,       -- only with two or more transfers
    anomalies           text[] NOT NULL DEFAULT '{}',   -- of the latest inspection
    abnormal_at         timestamptz,       -- first abnormal inspection (month end: caught late?)
    returned_at         timestamptz,       -- received at the origin
    lost_at             timestamptz,       -- flagged lost on an envelope's arrival
    envelope_id         uuid,              -- the envelope it travels / travelled in
    courier_no          text CHECK (length(courier_no) <= 64),
    -- True once every chase stage this receipt can reach has been announced; keeps it
    -- out of the chase index below (reset when a later arrival moves the deadline).
    chase_done          boolean NOT NULL DEFAULT false,
    created_at          timestamptz NOT NULL DEFAULT now(),
    updated_at          timestamptz NOT NULL DEFAULT now()
);

-- The chase scan: "not yet back at the origin, not cancelled, stages left to announce,
-- due_at <= as_of, in due_at order". A partial index holds only those rows, so its size
-- is the number of receipts still out there (thousands), not every receipt ever made
-- (millions): returned, handed-over, written-off and cancelled receipts, receipts whose
-- chasing is finished and receipts without a deadline yet are simply not in it. The scan
-- is a range read `due_at <= as_of` on this index in keyset batches of (due_at, waybill_no).
CREATE INDEX receipts_chase_idx ON receipts (due_at, waybill_no)
    WHERE status IN ('awaiting_delivery', 'signed', 'abnormal', 'qualified', 'mailed', 'lost')
      AND NOT chase_done AND due_at IS NOT NULL;

-- List filters (keyset on waybill_no within each).
CREATE INDEX receipts_destination_idx ON receipts (destination, waybill_no);
CREATE INDEX receipts_origin_idx ON receipts (origin, waybill_no);
CREATE INDEX receipts_region_idx ON receipts (region, waybill_no);
CREATE INDEX receipts_status_idx ON receipts (status, waybill_no);
-- Month-end report: receipts whose deadline falls in the month.
CREATE INDEX receipts_due_at_idx ON receipts (due_at) WHERE due_at IS NOT NULL;

-- The custody chain: every hand-off of the paper, append-only evidence (出入清晰、可查).
CREATE TABLE custody (
    id          bigserial PRIMARY KEY,
    waybill_no  text NOT NULL REFERENCES receipts (waybill_no),
    at          timestamptz NOT NULL,      -- the hand-off time stated by the station
    action      text NOT NULL CHECK (action IN (
                    'deliver', 'inspect_qualified', 'inspect_abnormal', 're_sign', 'mail',
                    'receive', 'flag_lost', 'hand_over', 'write_off', 'cancel')),
    actor       text NOT NULL CHECK (length(actor) BETWEEN 1 AND 200),
    from_party  text NOT NULL CHECK (length(from_party) BETWEEN 1 AND 200),
    to_party    text NOT NULL CHECK (length(to_party) BETWEEN 1 AND 200),
    note        text NOT NULL DEFAULT '' CHECK (length(note) <= 2000),
    envelope_id uuid,
    recorded_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX custody_waybill_idx ON custody (waybill_no, id);

-- Defence in depth: the application has no UPDATE or DELETE path for custody rows, and
-- the database refuses them too, so the history cannot be rewritten by a bug or by hand.
CREATE FUNCTION custody_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'custody entries are append-only: % refused', TG_OP
        USING ERRCODE = 'insufficient_privilege';
END;
$$;
CREATE TRIGGER custody_no_update_delete BEFORE UPDATE OR DELETE ON custody
    FOR EACH ROW EXECUTE FUNCTION custody_append_only();
CREATE TRIGGER custody_no_truncate BEFORE TRUNCATE ON custody
    FOR EACH STATEMENT EXECUTE FUNCTION custody_append_only();

-- Envelopes: qualified receipts mailed from one station to the origin station.
CREATE TABLE envelopes (
    id           uuid PRIMARY KEY,
    from_station text NOT NULL CHECK (length(from_station) BETWEEN 1 AND 32),
    to_station   text NOT NULL CHECK (length(to_station) BETWEEN 1 AND 32),
    courier_no   text NOT NULL CHECK (length(courier_no) BETWEEN 1 AND 64),
    sent_at      timestamptz NOT NULL,
    sent_by      text NOT NULL,
    status       text NOT NULL DEFAULT 'in_transit' CHECK (status IN ('in_transit', 'received')),
    received_at  timestamptz,
    received_by  text,
    created_at   timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE envelope_items (
    envelope_id uuid NOT NULL REFERENCES envelopes (id),
    waybill_no  text NOT NULL REFERENCES receipts (waybill_no),
    position    integer NOT NULL,
    outcome     text CHECK (outcome IN ('present', 'missing')),   -- set on arrival
    PRIMARY KEY (envelope_id, waybill_no)
);
CREATE INDEX envelope_items_waybill_idx ON envelope_items (waybill_no);

-- Chase stages announced: the unique key makes "once per receipt per stage" hold even if
-- two runners overlap (a leadership hand-over, or the admin route during a scan).
CREATE TABLE chase_emissions (
    waybill_no text NOT NULL REFERENCES receipts (waybill_no),
    stage      text NOT NULL CHECK (stage IN ('due', 'final')),
    deadline   timestamptz NOT NULL,
    as_of      timestamptz NOT NULL,
    event_id   uuid NOT NULL,
    emitted_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (waybill_no, stage)
);
