-- The national analytics database (README "Analytics"): the schema the
-- national node's mirror (analytics/mirror.h) creates and fills.
--
-- The mirror runs this file, as it is, in one transaction on every
-- connection: everything is CREATE ... IF NOT EXISTS or CREATE OR REPLACE,
-- and the partitioned table, whose shape depends on the hash partition
-- count, is made once by tongban.create_tables. A DBA can run it with psql
-- to prepare a database by hand (then SELECT tongban.create_tables(8)).
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
-- a hash of the person key into `hash_partitions` (1..64). Later calls do
-- nothing; the count is fixed once the table exists (tongban.meta).
CREATE OR REPLACE FUNCTION tongban.create_tables(hash_partitions integer) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  IF EXISTS (SELECT 1 FROM tongban.meta WHERE key = 'hash_partitions') THEN
    RETURN;
  END IF;
  IF hash_partitions < 1 OR hash_partitions > 64 THEN
    RAISE EXCEPTION 'tongban.create_tables: % hash partitions; give 1 to 64', hash_partitions;
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
    PRIMARY KEY (person_key, month, origin, epoch, seq)
  ) PARTITION BY RANGE (month);
  INSERT INTO tongban.meta VALUES ('hash_partitions', hash_partitions::text),
                                  ('schema_version', '1');
END $$;

-- Makes the month partitions of `months` (first days of months) where they
-- are missing: record_state_YYYYMM, each with its hash partitions
-- record_state_YYYYMM_hNN.
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
                     'FOR VALUES FROM (%L) TO (%L) PARTITION BY HASH (person_key)',
                     parent, tongban.month_of(m), (tongban.month_of(m) + interval '1 month')::date);
      FOR i IN 0 .. n - 1 LOOP
        EXECUTE format('CREATE TABLE tongban.%I PARTITION OF tongban.%I '
                       'FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                       parent || '_h' || lpad(i::text, 2, '0'), parent, n, i);
      END LOOP;
    END IF;
  END LOOP;
END $$;
