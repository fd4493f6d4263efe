-- The national analytics database (README "Analytics"): the schema the
-- national node's mirror (analytics/mirror.h) creates and fills.
--
-- The mirror runs this file, as it is, in one transaction on every
-- connection: everything is CREATE ... IF NOT EXISTS or CREATE OR REPLACE,
-- and the partitioned table, whose shape depends on the hash partition
-- count, is made once by tongban.create_tables. A DBA can run it with psql
-- to prepare a database by hand (SET tongban.hash_partitions = 8 first to
-- choose the count; 8 without it).
--
-- Tables:
--   tongban.record_state   one row per record state the national node
--                          applied (one per event of every origin's log),
--                          keyed (person_key, month, origin, epoch, seq);
--                          partitioned by month (RANGE) and each month by a
--                          hash of the person key (HASH)
--   tongban.mirror_cursor  per origin log (origin, epoch): the last event
--                          mirrored, moved in the same transaction as its rows
--   tongban.meta           hash partition count, schema version, and the
--                          fingerprint of the person-key secret in use
--   tongban.kind           the record kinds' names
-- Region codes are integers (440305; a province 440000; the nation 0), days
-- are in China Standard Time, kinds are the RecordKind numbers of
-- proto/tongban/v1/records.proto.
--
-- The person key (the distribution column) is in every primary key, so the
-- same table distributes under Citus (create_distributed_table on
-- person_key) or keeps months on other servers as postgres_fdw foreign
-- partitions.

CREATE SCHEMA IF NOT EXISTS tongban;

CREATE TABLE IF NOT EXISTS tongban.meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE IF NOT EXISTS tongban.mirror_cursor (
  origin integer NOT NULL,   -- the log's origin node code
  epoch bigint NOT NULL,
  seq bigint NOT NULL,       -- every event up to here is mirrored
  updated_at timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (origin, epoch)
);

-- The record kinds, for readable queries.
CREATE TABLE IF NOT EXISTS tongban.kind (
  kind smallint PRIMARY KEY,
  name text NOT NULL,
  zh text NOT NULL
);
INSERT INTO tongban.kind VALUES
  (1, 'person_basics', '个人基本信息'), (2, 'outflow', '流出登记'), (3, 'inflow', '流入登记'),
  (4, 'return_registration', '返回/离开'), (5, 'certificate', '电子证明'), (6, 'service', '服务记录'),
  (7, 'entitlement', '奖励扶助'), (8, 'inquiry', '协查'), (9, 'inquiry_reply', '协查反馈'),
  (10, 'notice', '通报'), (11, 'receipt', '回执')
ON CONFLICT (kind) DO NOTHING;

CREATE OR REPLACE FUNCTION tongban.is_county(c integer) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT coalesce(c > 0 AND c % 10000 <> 0, false) $$;

CREATE OR REPLACE FUNCTION tongban.province(c integer) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT c / 10000 * 10000 $$;

CREATE OR REPLACE FUNCTION tongban.month_of(d date) RETURNS date
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT date_trunc('month', d)::date $$;

-- The statistical year a day falls in: the year that holds its 30 September
-- (2025-10-01 .. 2026-09-30 is statistical year 2026).
CREATE OR REPLACE FUNCTION tongban.statistical_year(d date) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT extract(year FROM d)::integer + CASE WHEN extract(month FROM d) >= 10 THEN 1 ELSE 0 END $$;

-- Creates tongban.record_state, once: partitioned by month, each month by
-- a hash of the person key into `hash_partitions` (1..64), or by month
-- only with 0 (the layout to distribute with Citus, which shards by the
-- person key itself and does not distribute multi-level partitioned
-- tables). Later calls do nothing; the count is fixed once the table exists
-- (tongban.meta).
CREATE OR REPLACE FUNCTION tongban.create_tables(hash_partitions integer) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tongban.meta WHERE key = 'hash_partitions') THEN
    RETURN;
  END IF;
  IF hash_partitions < 0 OR hash_partitions > 64 THEN
    RAISE EXCEPTION 'tongban.create_tables: % hash partitions; give 0 to 64', hash_partitions;
  END IF;
  CREATE TABLE tongban.record_state (
    person_key uuid NOT NULL,      -- keyed hash of the citizen ID (pseudonymous personal data)
    month date NOT NULL,           -- first day of the month of `day`
    origin integer NOT NULL,       -- the writer (custodian) node code
    epoch bigint NOT NULL,
    seq bigint NOT NULL,           -- (origin, epoch, seq): the event
    day date NOT NULL,             -- the event's time stamp (hybrid clock), as a day
    written_at timestamptz NOT NULL,
    kind smallint NOT NULL,        -- RecordKind (tongban.kind)
    record_key bigint NOT NULL,    -- keyed hash of the record id
    operation smallint NOT NULL,   -- 1 upsert (new value or correction), 2 retraction
    parents smallint NOT NULL,     -- heads superseded (2 or more: a conflict resolved)
    purpose smallint NOT NULL,     -- Purpose of disclosure
    id_findings smallint NOT NULL, -- confirmed citizen-ID findings on the event
    region integer,                -- the other county of the record (README: by kind)
    region2 integer,               -- a second county (inflow: previous residence; return: to)
    day1 date,                     -- the record's first date (README: by kind)
    day2 date,                     -- its second date
    subtype smallint,              -- the kind's type or status enum
    amount_fen bigint,             -- entitlement: amount per period, in fen
    flag boolean,                  -- certificate revoked; reply matched; notice needs receipt
    ref_key bigint,                -- reply, receipt, service: record_key of the inquiry,
                                   -- notice or entitlement it refers to
    PRIMARY KEY (person_key, month, origin, epoch, seq)
  ) PARTITION BY RANGE (month);
  INSERT INTO tongban.meta VALUES ('hash_partitions', hash_partitions::text),
                                  ('schema_version', '1');
END $$;

-- Makes the month partitions of `months` (first days of months) where they
-- are missing: record_state_YYYYMM, each with its hash partitions
-- record_state_YYYYMM_hNN (none with 0 hash partitions).
CREATE OR REPLACE FUNCTION tongban.ensure_months(months date[]) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  m date;
  parent text;
  n integer := (SELECT value::integer FROM tongban.meta WHERE key = 'hash_partitions');
BEGIN
  FOREACH m IN ARRAY months LOOP
    parent := 'record_state_' || to_char(m, 'YYYYMM');
    IF to_regclass('tongban.' || parent) IS NULL THEN
      EXECUTE format('CREATE TABLE tongban.%I PARTITION OF tongban.record_state '
                     'FOR VALUES FROM (%L) TO (%L)%s',
                     parent, tongban.month_of(m), (tongban.month_of(m) + interval '1 month')::date,
                     CASE WHEN n > 0 THEN ' PARTITION BY HASH (person_key)' ELSE '' END);
      FOR i IN 0 .. n - 1 LOOP
        EXECUTE format('CREATE TABLE tongban.%I PARTITION OF tongban.%I '
                       'FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       parent || '_h' || lpad(i::text, 2, '0'), parent, n, i);
      END LOOP;
    END IF;
  END LOOP;
END $$;

SELECT tongban.create_tables(coalesce(current_setting('tongban.hash_partitions', true), '8')::integer);

-- ---------------------------------------------------------------------------
-- Views for staff writing their own queries.
--
-- The latest state of each record: its last event in time stamp order (a
-- retraction included, as live = false). Where two counties' offline edits
-- left a record with two heads, this shows the later one; the node shows
-- both (README "Records").
CREATE OR REPLACE VIEW tongban.latest AS
  SELECT DISTINCT ON (person_key, kind, origin, record_key)
         person_key, kind, origin, record_key, operation = 1 AS live, month, day, written_at,
         region, region2, day1, day2, subtype, amount_fen, flag, ref_key
    FROM tongban.record_state
   ORDER BY person_key, kind, origin, record_key, written_at DESC, epoch DESC, seq DESC;

-- Inflow registrations (流入登记) standing now: residence county, origin
-- county, arrival and registration days, and whether it was registered in
-- time (within 30 days of arrival, DOMAIN.md).
CREATE OR REPLACE VIEW tongban.inflows AS
  SELECT person_key, origin AS residence, tongban.province(origin) AS residence_province,
         region AS origin_county, tongban.province(region) AS origin_province,
         region2 AS previous_residence, day1 AS arrived_on, day2 AS registered_on,
         tongban.month_of(day1) AS arrival_month,
         (day2 - day1 <= 30) AS registered_in_time
    FROM tongban.latest WHERE kind = 3 AND live;

-- Outflow registrations (流出登记) standing now.
CREATE OR REPLACE VIEW tongban.outflows AS
  SELECT person_key, origin AS origin_county, tongban.province(origin) AS origin_province,
         region AS destination, tongban.province(region) AS destination_province,
         day1 AS left_on, tongban.month_of(day1) AS departure_month
    FROM tongban.latest WHERE kind = 2 AND live;

-- Inquiries (协查) standing now, with the first reply (协查反馈) of the
-- county asked, if any.
CREATE OR REPLACE VIEW tongban.inquiries AS
  SELECT q.person_key, q.origin AS from_county, q.region AS to_county,
         tongban.province(q.region) AS to_province, q.subtype AS inquiry_type,
         q.day1 AS sent_on, q.day2 AS due_on, a.replied_on
    FROM tongban.latest q
    LEFT JOIN LATERAL (
      SELECT min(r.day1) AS replied_on FROM tongban.latest r
       WHERE r.kind = 9 AND r.live AND r.person_key = q.person_key AND r.origin = q.region
         AND r.region = q.origin AND r.ref_key = q.record_key) a ON true
   WHERE q.kind = 8 AND q.live;
