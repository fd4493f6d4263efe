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
--   tongban.record_latest  one row per record: its latest state (the rollup
--                          the measures read), kept by the mirror in the
--                          transaction of each batch; partitioned by kind
--                          (LIST) and each kind by a hash of the person key
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
    complete boolean,              -- every field the write path requires present
                                   -- (NULL: a retraction)
    PRIMARY KEY (person_key, month, origin, epoch, seq)
  ) PARTITION BY RANGE (month);
  INSERT INTO tongban.meta VALUES ('hash_partitions', hash_partitions::text),
                                  ('schema_version', '3');
END $$;

-- Makes tongban.<part> the partition of tongban.<parent> for `bounds`
-- ("FOR VALUES ..." or "DEFAULT"), itself split by the person key's hash
-- into the hash partition count's leaves <part>_hNN (none with 0).
CREATE OR REPLACE FUNCTION tongban.add_partition(parent text, part text, bounds text)
  RETURNS void LANGUAGE plpgsql AS $$
DECLARE
  n integer := (SELECT value::integer FROM tongban.meta WHERE key = 'hash_partitions');
BEGIN
  EXECUTE format('CREATE TABLE tongban.%I PARTITION OF tongban.%I %s%s', part, parent, bounds,
                 CASE WHEN n > 0 THEN ' PARTITION BY HASH (person_key)' ELSE '' END);
  FOR i IN 0 .. n - 1 LOOP
    EXECUTE format('CREATE TABLE tongban.%I PARTITION OF tongban.%I '
                   'FOR VALUES WITH (MODULUS %s, REMAINDER %s)',
                   part || '_h' || lpad(i::text, 2, '0'), part, n, i);
  END LOOP;
END $$;

-- Makes the month partitions of `months` (first days of months) where they
-- are missing: record_state_YYYYMM, each with its hash partitions
-- record_state_YYYYMM_hNN.
CREATE OR REPLACE FUNCTION tongban.ensure_months(months date[]) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  m date;
  part text;
BEGIN
  FOREACH m IN ARRAY months LOOP
    part := 'record_state_' || to_char(m, 'YYYYMM');
    IF to_regclass('tongban.' || part) IS NULL THEN
      PERFORM tongban.add_partition('record_state', part,
                                    format('FOR VALUES FROM (%L) TO (%L)', tongban.month_of(m),
                                           (tongban.month_of(m) + interval '1 month')::date));
    END IF;
  END LOOP;
END $$;

SELECT tongban.create_tables(coalesce(current_setting('tongban.hash_partitions', true), '8')::integer);

-- Folds the record states in `source` (a table or query with
-- record_state's columns) into tongban.record_latest: per record, the state
-- of its last event in time stamp order (written_at, then epoch and seq),
-- where it is later than the one held. The mirror calls it on each batch
-- in the batch's transaction, so record_latest always equals the latest
-- state over record_state (tests/analytics/mirror_test.cc checks it).
CREATE OR REPLACE FUNCTION tongban.fold_latest(source text) RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format($q$
    INSERT INTO tongban.record_latest AS l
      SELECT DISTINCT ON (person_key, kind, origin, record_key)
             person_key, kind, origin, record_key, epoch, seq, operation = 1, month, day,
             written_at, region, region2, day1, day2, subtype, amount_fen, flag, ref_key,
             id_findings, complete
        FROM %s
       ORDER BY person_key, kind, origin, record_key, written_at DESC, epoch DESC, seq DESC
    ON CONFLICT (person_key, kind, origin, record_key) DO UPDATE SET
      epoch = EXCLUDED.epoch, seq = EXCLUDED.seq, live = EXCLUDED.live, month = EXCLUDED.month,
      day = EXCLUDED.day, written_at = EXCLUDED.written_at, region = EXCLUDED.region,
      region2 = EXCLUDED.region2, day1 = EXCLUDED.day1, day2 = EXCLUDED.day2,
      subtype = EXCLUDED.subtype, amount_fen = EXCLUDED.amount_fen, flag = EXCLUDED.flag,
      ref_key = EXCLUDED.ref_key, id_findings = EXCLUDED.id_findings,
      complete = EXCLUDED.complete
    WHERE (EXCLUDED.written_at, EXCLUDED.epoch, EXCLUDED.seq) > (l.written_at, l.epoch, l.seq)
  $q$, source);
END $$;

-- Schema version 2 added `complete` (the completeness measure); a table
-- made by version 1 gets the column, NULL in the rows already mirrored
-- (left out of completeness). Version 3 added tongban.record_latest, the
-- latest state of each record, filled here once from the rows already
-- mirrored and then kept by the mirror. The locks are taken only when
-- something is missing.
DO $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM information_schema.columns
                  WHERE table_schema = 'tongban' AND table_name = 'record_state'
                    AND column_name = 'complete') THEN
    ALTER TABLE tongban.record_state ADD COLUMN complete boolean;
  END IF;
  IF to_regclass('tongban.record_latest') IS NULL THEN
    -- The rollup the measures read: a scan of one kind reads that kind's
    -- partitions only; the person key (the distribution column) is in the
    -- primary key, as in record_state. Kinds the schema does not know yet
    -- (a newer origin's) go to the default partition.
    CREATE TABLE tongban.record_latest (
      person_key uuid NOT NULL,
      kind smallint NOT NULL,
      origin integer NOT NULL,
      record_key bigint NOT NULL,
      epoch bigint NOT NULL,          -- the event that wrote this state
      seq bigint NOT NULL,
      live boolean NOT NULL,          -- false: retracted
      month date NOT NULL,
      day date NOT NULL,
      written_at timestamptz NOT NULL,
      region integer,
      region2 integer,
      day1 date,
      day2 date,
      subtype smallint,
      amount_fen bigint,
      flag boolean,
      ref_key bigint,
      id_findings smallint NOT NULL,
      complete boolean,
      PRIMARY KEY (person_key, kind, origin, record_key)
    ) PARTITION BY LIST (kind);
    PERFORM tongban.add_partition('record_latest', 'record_latest_other', 'DEFAULT');
    FOR k IN 1 .. 11 LOOP
      PERFORM tongban.add_partition('record_latest', 'record_latest_k' || lpad(k::text, 2, '0'),
                                    format('FOR VALUES IN (%s)', k));
    END LOOP;
    PERFORM tongban.fold_latest('tongban.record_state');
  END IF;
  UPDATE tongban.meta SET value = '3' WHERE key = 'schema_version' AND value <> '3';
END $$;

-- ---------------------------------------------------------------------------
-- Views for staff writing their own queries.
--
-- The latest state of each record (tongban.record_latest): its last event
-- in time stamp order (a retraction included, as live = false). Where two counties' offline edits
-- left a record with two heads, this shows the later one; the node shows
-- both (README "Records").
CREATE OR REPLACE VIEW tongban.latest AS
  SELECT person_key, kind, origin, record_key, live, month, day, written_at,
         region, region2, day1, day2, subtype, amount_fen, flag, ref_key, id_findings, complete
    FROM tongban.record_latest;

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
-- county asked, if any (the day it says it replied, else the day it was
-- written).
CREATE OR REPLACE VIEW tongban.inquiries AS
  SELECT q.person_key, q.origin AS from_county, q.region AS to_county,
         tongban.province(q.region) AS to_province, q.subtype AS inquiry_type,
         q.day1 AS sent_on, q.day2 AS due_on, a.replied_on
    FROM tongban.latest q
    LEFT JOIN LATERAL (
      SELECT min(coalesce(r.day1, r.day)) AS replied_on FROM tongban.latest r
       WHERE r.kind = 9 AND r.live AND r.person_key = q.person_key AND r.origin = q.region
         AND r.region = q.origin AND r.ref_key = q.record_key) a ON true
   WHERE q.kind = 8 AND q.live;

-- ---------------------------------------------------------------------------
-- The national measures (DOMAIN.md "Measures"), as the node's `Stats`
-- computes them (workflows/stats.cc; README "Statistics" says each rule):
-- the same records give the same numerators and denominators
-- (tests/analytics/measures_test.cc checks it over random federations).
-- Over the latest state of each record, as the node counts its standing
-- heads; a record with two heads (two counties' offline edits) counts its
-- later one here, both on the node.

-- Days an inquiry type allows (DOMAIN.md; the national defaults the
-- statistics use): urgent 15, certificate mismatch 7, others 30.
CREATE OR REPLACE FUNCTION tongban.inquiry_days(inquiry_type smallint) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT CASE inquiry_type WHEN 1 THEN 15 WHEN 3 THEN 7 ELSE 30 END $$;

-- The first and last day of a month ('2026-03') or a statistical year
-- ('2026': 2025-10-01 .. 2026-09-30).
CREATE OR REPLACE FUNCTION tongban.period_days(period text, OUT first_day date, OUT last_day date)
  LANGUAGE plpgsql IMMUTABLE AS $$
BEGIN
  IF period ~ '^[0-9]{4}-(0[1-9]|1[0-2])$' THEN
    first_day := to_date(period || '-01', 'YYYY-MM-DD');
    last_day := (first_day + interval '1 month' - interval '1 day')::date;
  ELSIF period ~ '^[0-9]{4}$' THEN
    first_day := make_date(period::integer - 1, 10, 1);
    last_day := make_date(period::integer, 9, 30);
  ELSE
    RAISE EXCEPTION 'tongban.period_days: period "%" is neither YYYY-MM (a month) nor YYYY (a statistical year)', period;
  END IF;
END $$;

-- Every measure of every county, province (XX0000) and the nation (0) with
-- anything to count in [first_day, last_day], on `today` (China Standard
-- Time; deadlines pass and arrival windows close with it). Measures, named
-- as the fields of StatsRow:
--   feedback                       inquiries replied / received (by sent day)
--   on_time_feedback               replied by the deadline / due (by deadline)
--   receipt                        notices acknowledged / needing receipt
--   registration_timeliness        inflows registered within 30 days / all
--   arrived_without_origin_record  persons (distinct per scope)
--   left_without_residence_record  persons (distinct per scope)
--   certificate_coverage           living here and holding a valid
--                                  certificate / living here, on the
--                                  reference day least(last_day, today)
--   completeness                   records written in the period with every
--                                  required field / those records
--   id_findings                    confirmed ID findings / those records
-- A county's counts add up to its province's and the nation's, but for the
-- two distinct-person measures, counted once per scope.
CREATE OR REPLACE FUNCTION tongban.measures(
    first_day date, last_day date,
    today date DEFAULT (now() AT TIME ZONE 'Asia/Shanghai')::date)
  RETURNS TABLE (scope integer, measure text, numerator bigint, denominator bigint,
                 ratio numeric)
  LANGUAGE sql STABLE AS $$
  -- Every input is a scan of one kind's partitions of record_latest, and
  -- every record is matched with hash joins (no per-row subqueries), so a
  -- call reads each kind once or twice however large the nation grows.
  WITH reply AS (
    SELECT person_key, origin, region, ref_key, min(coalesce(day1, day)) AS replied
      FROM tongban.record_latest WHERE kind = 9 AND live
     GROUP BY person_key, origin, region, ref_key
  ),
  -- The inquiries sent or due in the period, with the first reply.
  inquiry AS (
    SELECT q.region AS county, s.sent, d.due, r.replied
      FROM tongban.record_latest q
     CROSS JOIN LATERAL (SELECT coalesce(q.day1, q.day) AS sent) s
     CROSS JOIN LATERAL (SELECT coalesce(q.day2, s.sent + tongban.inquiry_days(q.subtype)) AS due) d
      LEFT JOIN reply r ON r.person_key = q.person_key AND r.origin = q.region
                       AND r.region = q.origin AND r.ref_key = q.record_key
     WHERE q.kind = 8 AND q.live AND tongban.is_county(q.region)
       AND (s.sent BETWEEN first_day AND last_day OR d.due BETWEEN first_day AND last_day)
  ),
  -- Counted per county: (county, measure, numerator, denominator).
  -- Each input is counted per county where it is read, so that what is
  -- added up further is a row per county and measure.
  counted AS (
    SELECT county, 'feedback' AS measure, count(replied) AS num, count(*) AS den
      FROM inquiry WHERE sent BETWEEN first_day AND last_day GROUP BY county
    UNION ALL
    SELECT county, 'on_time_feedback', count(*) FILTER (WHERE replied <= due), count(*)
      FROM inquiry
     WHERE due BETWEEN first_day AND last_day AND (replied IS NOT NULL OR due < today)
     GROUP BY county
    UNION ALL
    SELECT n.region, 'receipt', count(a.person_key), count(*)
      FROM tongban.record_latest n
      LEFT JOIN (SELECT DISTINCT person_key, origin, region, ref_key FROM tongban.record_latest
                  WHERE kind = 11 AND live) a
        ON a.person_key = n.person_key AND a.origin = n.region AND a.region = n.origin
       AND a.ref_key = n.record_key
     WHERE n.kind = 10 AND n.live AND n.flag AND tongban.is_county(n.region)
       AND coalesce(n.day1, n.day) BETWEEN first_day AND last_day
     GROUP BY n.region
    UNION ALL
    SELECT origin, 'registration_timeliness', count(*) FILTER (WHERE day2 - day1 <= 30), count(*)
      FROM tongban.record_latest
     WHERE kind = 3 AND live AND tongban.is_county(origin) AND day2 BETWEEN first_day AND last_day
     GROUP BY origin
    UNION ALL
    -- Completeness (of the records whose completeness is known) and ID
    -- findings (of every record), in one scan of the records written in
    -- the period.
    SELECT t.origin, m.measure, m.num, m.den
      FROM (SELECT origin, count(*) FILTER (WHERE complete) AS complete, count(complete) AS known,
                   sum(id_findings) AS findings, count(*) AS records
              FROM tongban.record_latest
             WHERE live AND tongban.is_county(origin) AND day BETWEEN first_day AND last_day
             GROUP BY origin) t
     CROSS JOIN LATERAL (VALUES ('completeness', t.complete, t.known),
                                ('id_findings', t.findings, t.records)) m(measure, num, den)
     WHERE m.den > 0
    UNION ALL
    -- Certificate coverage: where each person lives on the reference day
    -- (the latest arrival by then, not ended by a return home or a
    -- departure from there) and whether they hold a valid certificate.
    SELECT c.residence, 'certificate_coverage', count(v.person_key), count(*)
      FROM (SELECT DISTINCT ON (person_key) person_key, origin AS residence, day1 AS arrived
              FROM tongban.record_latest
             WHERE kind = 3 AND live AND day1 <= least(last_day, today)
               AND least(last_day, today) >= first_day
             ORDER BY person_key, day1 DESC, day2 DESC NULLS LAST, day DESC, origin DESC) c
      LEFT JOIN (SELECT DISTINCT person_key FROM tongban.record_latest
                  WHERE kind = 5 AND live AND NOT flag AND day1 <= least(last_day, today)
                    AND least(last_day, today) <= day2) v ON v.person_key = c.person_key
     WHERE tongban.is_county(c.residence)
       AND NOT EXISTS (SELECT 1 FROM tongban.record_latest x
                        WHERE x.kind = 4 AND x.live AND x.person_key = c.person_key
                          AND x.day1 BETWEEN c.arrived AND least(last_day, today)
                          AND (x.subtype = 1 OR (x.subtype = 2 AND (x.region = c.residence OR
                                                                    x.origin = c.residence))))
     GROUP BY c.residence
  ),
  -- Counted per person: (person, county, measure, counted in the numerator).
  persons AS (
    SELECT i.person_key, i.origin AS county, 'arrived_without_origin_record' AS measure,
           o.person_key IS NULL AS hit
      FROM tongban.record_latest i
      LEFT JOIN (SELECT DISTINCT person_key, origin FROM tongban.record_latest
                  WHERE kind = 2 AND live) o
        ON o.person_key = i.person_key AND o.origin = i.region
     WHERE i.kind = 3 AND i.live AND tongban.is_county(i.origin)
       AND i.day2 BETWEEN first_day AND last_day
    UNION ALL
    SELECT o.person_key, o.origin, 'left_without_residence_record', i.person_key IS NULL
      FROM tongban.record_latest o
      LEFT JOIN (SELECT DISTINCT person_key, origin FROM tongban.record_latest
                  WHERE kind = 3 AND live) i
        ON i.person_key = o.person_key AND i.origin = o.region
     WHERE o.kind = 2 AND o.live AND tongban.is_county(o.origin)
       AND o.day1 BETWEEN first_day AND last_day AND o.day1 + 30 < today
       AND NOT EXISTS (SELECT 1 FROM tongban.record_latest h
                        WHERE h.kind = 4 AND h.live AND h.person_key = o.person_key
                          AND h.subtype = 1 AND h.day1 >= o.day1)
  ),
  -- One row per county and measure, so that provinces and the nation add
  -- up a few thousand rows, not the records.
  county_sums AS (
    SELECT county, measure, sum(num)::bigint AS num, sum(den)::bigint AS den
      FROM counted GROUP BY county, measure
  ),
  -- Each person once per county and measure (hit in any of their records).
  county_persons AS (
    SELECT person_key, county, measure, bool_or(hit) AS hit
      FROM persons GROUP BY person_key, county, measure
  ),
  scoped AS (
    SELECT s.scope, c.measure, sum(c.num)::bigint AS num, sum(c.den)::bigint AS den
      FROM county_sums c
     CROSS JOIN LATERAL (VALUES (c.county), (tongban.province(c.county)), (0)) s(scope)
     GROUP BY s.scope, c.measure
    UNION ALL
    SELECT s.scope, p.measure, count(DISTINCT p.person_key) FILTER (WHERE p.hit),
           count(DISTINCT p.person_key)
      FROM county_persons p
     CROSS JOIN LATERAL (VALUES (p.county), (tongban.province(p.county)), (0)) s(scope)
     GROUP BY s.scope, p.measure
  )
  SELECT scope, measure, num, den, round(num::numeric / nullif(den, 0), 4)
    FROM scoped ORDER BY scope, measure
$$;

-- The flows (流入, 流出) in [first_day, last_day] between counties, by
-- month: inflow registrations by the month of arrival (origin -> the
-- residence that registered), outflow registrations by the month of
-- departure (the origin that registered -> destination). Sum them up by
-- tongban.province(origin) and tongban.province(residence) for provinces.
CREATE OR REPLACE FUNCTION tongban.flows(first_day date, last_day date)
  RETURNS TABLE (month date, origin integer, residence integer, inflows bigint,
                 outflows bigint)
  LANGUAGE sql STABLE AS $$
  SELECT tongban.month_of(day1), o, r, count(*) FILTER (WHERE kind = 3),
         count(*) FILTER (WHERE kind = 2)
    FROM (SELECT kind, day1, CASE kind WHEN 3 THEN region ELSE origin END AS o,
                 CASE kind WHEN 3 THEN origin ELSE region END AS r
            FROM tongban.latest
           WHERE live AND kind IN (2, 3) AND day1 BETWEEN first_day AND last_day) f
   WHERE tongban.is_county(o) AND tongban.is_county(r)
   GROUP BY 1, 2, 3
   ORDER BY 1, 2, 3
$$;

-- The measures of a month ('2026-03') or a statistical year ('2026'), on
-- today: SELECT * FROM tongban.measures_of('2026') WHERE scope = 440000;
CREATE OR REPLACE FUNCTION tongban.measures_of(
    period text, today date DEFAULT (now() AT TIME ZONE 'Asia/Shanghai')::date)
  RETURNS TABLE (scope integer, measure text, numerator bigint, denominator bigint,
                 ratio numeric)
  LANGUAGE sql STABLE AS $$
  SELECT m.* FROM tongban.period_days(period) p,
         LATERAL tongban.measures(p.first_day, p.last_day, today) m
$$;
