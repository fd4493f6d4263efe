-- The national analytics database (README "National analytics"): the schema
-- the national node's mirror (analytics/mirror.h) creates and fills, and the
-- SQL of the national measures (workflows/stats.h defines each one; these
-- functions give the same counts).
--
-- The mirror runs this file, as it is, in one transaction on every
-- connection: everything is CREATE ... IF NOT EXISTS or CREATE OR REPLACE,
-- and the tables (partitioned, so their shape depends on the bucket count)
-- are made once by tongban.create_tables. A DBA can run it with psql to
-- prepare a database by hand (then SELECT tongban.create_tables(16)).
--
-- Tables (every one that holds person-level rows has the person key, the
-- distribution column, in its primary key):
--   tongban.record          one row per record the national node holds: its
--                           current value as the dates, region codes and
--                           kinds the measures read; partitioned by bucket
--                           (LIST, a hash of the person key) and by month
--                           (RANGE, of the record's first version)
--   tongban.rollup_month    per bucket, month, county and measure: the
--                           additive measures' numerator and denominator
--   tongban.rollup_deadline per bucket, deadline day and county: inquiries
--                           answered, answered on time, unanswered
--   tongban.rollup_flow     per bucket, month, origin and residence county:
--                           inflow and outflow registrations
--   tongban.mirror_cursor   per origin log (origin, epoch): the last event
--                           mirrored, moved in the same transaction as the rows
--   tongban.meta            the bucket count, schema version and the
--                           fingerprint of the person-key secret in use
-- Region codes are integers (440305; a province 440000; the nation 0), dates
-- are days in China Standard Time, kinds are the RecordKind numbers of
-- proto/tongban/v1/records.proto (tongban.kind names them).

CREATE SCHEMA IF NOT EXISTS tongban;

CREATE TABLE IF NOT EXISTS tongban.meta (
  key text PRIMARY KEY,
  value text NOT NULL
);

CREATE TABLE IF NOT EXISTS tongban.mirror_cursor (
  origin integer NOT NULL,   -- the log's origin node code
  epoch bigint NOT NULL,
  seq bigint NOT NULL,       -- every event up to here is mirrored
  events bigint NOT NULL,    -- events mirrored from this log (= seq: each once)
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

-- Whether county `c` lies in `scope` (a county, a province XX0000, or the
-- nation 0).
CREATE OR REPLACE FUNCTION tongban.in_scope(c integer, scope integer) RETURNS boolean
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT tongban.is_county(c) AND (scope = 0 OR c = scope
                                         OR (scope % 10000 = 0 AND c / 10000 * 10000 = scope)) $$;

CREATE OR REPLACE FUNCTION tongban.month_of(d date) RETURNS date
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT date_trunc('month', d)::date $$;

-- The columns of tongban.record (and of the mirror's staging tables).
CREATE OR REPLACE FUNCTION tongban.record_columns() RETURNS text
  LANGUAGE sql IMMUTABLE
  AS $$ SELECT $cols$
    person_key uuid NOT NULL,      -- keyed hash of the citizen ID (personal data, pseudonymised)
    bucket smallint NOT NULL,      -- hash of the person key: the partition (0 without buckets)
    month date NOT NULL,           -- first day of the month of the record's first version
    kind smallint NOT NULL,        -- RecordKind
    record_key bigint NOT NULL,    -- keyed hash of the record id
    custodian integer NOT NULL,    -- the writer (custodian) node code
    versions integer NOT NULL,     -- events applied to the record
    heads smallint NOT NULL,       -- current versions; 2 or more: a conflict
    live boolean NOT NULL,         -- a standing head that is not a retraction
    conflict boolean NOT NULL,
    stamp_day date,                -- the standing head's time stamp, as a day
    parsed boolean NOT NULL,       -- live, and the value is of the record's kind
    complete boolean NOT NULL,     -- parsed, with every required field present
    id_findings smallint NOT NULL, -- confirmed citizen-ID findings on the record
    to_county integer,             -- inquiry, notice: the county asked; return: where to
    sent_day date,                 -- inquiry, notice: sent (else the stamp's day)
    due_day date,                  -- inquiry: deadline (due_on, else by type); notice: due_on
    inquiry_type smallint,         -- 1 urgent, 2 normal, 3 certificate mismatch
    needs_receipt boolean,         -- notice
    needs_feedback boolean,        -- notice
    answers_record bigint,         -- reply, receipt: record_key of the inquiry or notice
    answers_county integer,        -- reply, receipt: the inquiry's or notice's writer
    answered_day date,             -- reply: replied; receipt: received (else the stamp's day)
    matched boolean,               -- reply: the person was matched (配对)
    feedback_day date,             -- receipt: feedback given
    origin_county integer,         -- inflow: the person's origin
    previous_residence integer,    -- inflow
    arrived_on date,               -- inflow
    registered_on date,            -- inflow
    destination_county integer,    -- outflow
    left_on date,                  -- outflow
    return_type smallint,          -- return: 1 returned home, 2 departed
    effective_on date,             -- return
    from_county integer,           -- return: the residence the case leaves
    certificate_type smallint,     -- certificate: 1 marriage-fertility, 2 residence permit
    valid_from date,               -- certificate
    valid_to date,                 -- certificate
    revoked boolean,               -- certificate
    service_type smallint,         -- service: ServiceType
    delivered_on date,             -- service
    provider_county integer,       -- service
    entitlement_status smallint    -- entitlement: EntitlementStatus
  $cols$ $$;

-- Creates the tables, once. `buckets`: LIST partitions by bucket (each then
-- partitioned by month), 1..256; 0 for none (the tables are partitioned by
-- month only: the layout to distribute with Citus, which shards by the
-- person key itself). Later calls do nothing; the bucket count is fixed
-- once rows exist.
CREATE OR REPLACE FUNCTION tongban.create_tables(buckets integer) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  b integer;
  suffix text;
BEGIN
  IF EXISTS (SELECT 1 FROM tongban.meta WHERE key = 'buckets') THEN
    RETURN;
  END IF;
  IF buckets < 0 OR buckets > 256 THEN
    RAISE EXCEPTION 'tongban.create_tables: % buckets; give 0 to 256', buckets;
  END IF;
  EXECUTE format('CREATE TABLE tongban.record (%s, '
                 'PRIMARY KEY (person_key, bucket, month, kind, record_key)) PARTITION BY %s',
                 tongban.record_columns(),
                 CASE WHEN buckets = 0 THEN 'RANGE (month)' ELSE 'LIST (bucket)' END);
  EXECUTE format('CREATE TABLE tongban.rollup_month ('
                 'bucket smallint NOT NULL, month date NOT NULL, county integer NOT NULL, '
                 'measure text NOT NULL, numerator bigint NOT NULL, denominator bigint NOT NULL, '
                 'PRIMARY KEY (bucket, month, county, measure))%s',
                 CASE WHEN buckets = 0 THEN '' ELSE ' PARTITION BY LIST (bucket)' END);
  EXECUTE format('CREATE TABLE tongban.rollup_deadline ('
                 'bucket smallint NOT NULL, day date NOT NULL, county integer NOT NULL, '
                 'answered bigint NOT NULL, on_time bigint NOT NULL, unanswered bigint NOT NULL, '
                 'PRIMARY KEY (bucket, day, county))%s',
                 CASE WHEN buckets = 0 THEN '' ELSE ' PARTITION BY LIST (bucket)' END);
  EXECUTE format('CREATE TABLE tongban.rollup_flow ('
                 'bucket smallint NOT NULL, month date NOT NULL, origin integer NOT NULL, '
                 'residence integer NOT NULL, inflows bigint NOT NULL, outflows bigint NOT NULL, '
                 'PRIMARY KEY (bucket, month, origin, residence))%s',
                 CASE WHEN buckets = 0 THEN '' ELSE ' PARTITION BY LIST (bucket)' END);
  FOR b IN 0 .. buckets - 1 LOOP
    suffix := lpad(b::text, 3, '0');
    EXECUTE format('CREATE TABLE tongban.record_b%s PARTITION OF tongban.record '
                   'FOR VALUES IN (%s) PARTITION BY RANGE (month)', suffix, b);
    EXECUTE format('CREATE TABLE tongban.rollup_month_b%s PARTITION OF tongban.rollup_month '
                   'FOR VALUES IN (%s)', suffix, b);
    EXECUTE format('CREATE TABLE tongban.rollup_deadline_b%s PARTITION OF tongban.rollup_deadline '
                   'FOR VALUES IN (%s)', suffix, b);
    EXECUTE format('CREATE TABLE tongban.rollup_flow_b%s PARTITION OF tongban.rollup_flow '
                   'FOR VALUES IN (%s)', suffix, b);
  END LOOP;
  INSERT INTO tongban.meta VALUES ('buckets', buckets::text), ('schema_version', '1');
END $$;

-- The tables the month partitions hang under: tongban.record, or each local
-- bucket partition (a bucket kept on another server through postgres_fdw is
-- a foreign table; that server makes its own month partitions).
CREATE OR REPLACE FUNCTION tongban.month_parents() RETURNS SETOF text
  LANGUAGE sql STABLE AS $$
  SELECT c.relname::text FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
  WHERE n.nspname = 'tongban' AND c.relkind = 'p'
    AND ((c.relname = 'record' AND (SELECT value FROM tongban.meta WHERE key = 'buckets') = '0')
         OR c.relname ~ '^record_b[0-9]{3}$')
$$;

-- Makes the month partitions of `months` (first days of months) where they
-- are missing: record_bNNN_YYYYMM (record_YYYYMM without buckets).
CREATE OR REPLACE FUNCTION tongban.ensure_months(months date[]) RETURNS void
  LANGUAGE plpgsql AS $$
DECLARE
  m date;
  parent text;
  child text;
BEGIN
  FOR parent IN SELECT * FROM tongban.month_parents() LOOP
    FOREACH m IN ARRAY months LOOP
      child := parent || '_' || to_char(m, 'YYYYMM');
      IF to_regclass('tongban.' || child) IS NULL THEN
        EXECUTE format('CREATE TABLE tongban.%I PARTITION OF tongban.%I FOR VALUES FROM (%L) TO (%L)',
                       child, parent, tongban.month_of(m),
                       (tongban.month_of(m) + interval '1 month')::date);
      END IF;
    END LOOP;
  END LOOP;
END $$;

-- What each person contributes to the rollups, from the rows in `source`:
-- a table holding every record of each person in it (tongban.record, or the
-- mirror's staging tables). The definitions are workflows/stats.h's.
--
-- rollup_month: completeness, id_findings and records_in_conflict by the
-- writer and the month of the standing head's stamp; feedback and receipt
-- by the county asked and the month sent; registration_timeliness by the
-- residence and the month registered.
CREATE OR REPLACE FUNCTION tongban.contrib_month(source regclass)
  RETURNS TABLE (bucket smallint, month date, county integer, measure text,
                 numerator bigint, denominator bigint)
  LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH r AS (SELECT * FROM %1$s WHERE live),
    replies AS (
      SELECT person_key, custodian, answers_record, answers_county FROM r
      WHERE kind = 9 AND parsed GROUP BY 1, 2, 3, 4),
    receipts AS (
      SELECT person_key, custodian, answers_record, answers_county FROM r
      WHERE kind = 11 AND parsed GROUP BY 1, 2, 3, 4)
    SELECT r.bucket, tongban.month_of(r.stamp_day), r.custodian, 'completeness'::text,
           count(*) FILTER (WHERE r.complete), count(*)
      FROM r WHERE tongban.is_county(r.custodian) GROUP BY 1, 2, 3
    UNION ALL
    SELECT r.bucket, tongban.month_of(r.stamp_day), r.custodian, 'id_findings',
           sum(r.id_findings)::bigint, count(*)
      FROM r WHERE tongban.is_county(r.custodian) GROUP BY 1, 2, 3
    UNION ALL
    SELECT r.bucket, tongban.month_of(r.stamp_day), r.custodian, 'records_in_conflict',
           count(*) FILTER (WHERE r.conflict), 0
      FROM r WHERE tongban.is_county(r.custodian) GROUP BY 1, 2, 3
    UNION ALL
    SELECT q.bucket, tongban.month_of(q.sent_day), q.to_county, 'feedback',
           count(a.person_key), count(*)
      FROM r q LEFT JOIN replies a
        ON a.person_key = q.person_key AND a.custodian = q.to_county
       AND a.answers_record = q.record_key AND a.answers_county = q.custodian
      WHERE q.kind = 8 AND q.parsed AND tongban.is_county(q.to_county) GROUP BY 1, 2, 3
    UNION ALL
    SELECT n.bucket, tongban.month_of(n.sent_day), n.to_county, 'receipt',
           count(a.person_key), count(*)
      FROM r n LEFT JOIN receipts a
        ON a.person_key = n.person_key AND a.custodian = n.to_county
       AND a.answers_record = n.record_key AND a.answers_county = n.custodian
      WHERE n.kind = 10 AND n.parsed AND n.needs_receipt AND tongban.is_county(n.to_county)
      GROUP BY 1, 2, 3
    UNION ALL
    SELECT r.bucket, tongban.month_of(r.registered_on), r.custodian, 'registration_timeliness',
           count(*) FILTER (WHERE r.registered_on - r.arrived_on <= 30), count(*)
      FROM r WHERE r.kind = 3 AND r.parsed AND r.registered_on IS NOT NULL
       AND tongban.is_county(r.custodian) GROUP BY 1, 2, 3
  $q$, source);
END $$;

-- rollup_deadline: inquiries by the county asked and their deadline day:
-- answered, answered by the deadline, unanswered (whether an unanswered one
-- is due depends on the day the question is asked, so it stays a count by
-- day).
CREATE OR REPLACE FUNCTION tongban.contrib_deadline(source regclass)
  RETURNS TABLE (bucket smallint, day date, county integer,
                 answered bigint, on_time bigint, unanswered bigint)
  LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH r AS (SELECT * FROM %1$s WHERE live AND parsed),
    replies AS (
      SELECT person_key, custodian, answers_record, answers_county, min(answered_day) AS day
      FROM r WHERE kind = 9 GROUP BY 1, 2, 3, 4)
    SELECT q.bucket, q.due_day, q.to_county,
           count(a.person_key), count(*) FILTER (WHERE a.day <= q.due_day),
           count(*) FILTER (WHERE a.person_key IS NULL)
      FROM r q LEFT JOIN replies a
        ON a.person_key = q.person_key AND a.custodian = q.to_county
       AND a.answers_record = q.record_key AND a.answers_county = q.custodian
      WHERE q.kind = 8 AND tongban.is_county(q.to_county) AND q.due_day IS NOT NULL
      GROUP BY 1, 2, 3
  $q$, source);
END $$;

-- rollup_flow: inflows by arrival month and outflows by departure month,
-- origin county x residence county.
CREATE OR REPLACE FUNCTION tongban.contrib_flow(source regclass)
  RETURNS TABLE (bucket smallint, month date, origin integer, residence integer,
                 inflows bigint, outflows bigint)
  LANGUAGE plpgsql AS $$
BEGIN
  RETURN QUERY EXECUTE format($q$
    WITH r AS (SELECT * FROM %1$s WHERE live AND parsed)
    SELECT f.bucket, f.month, f.origin, f.residence, sum(f.inflows)::bigint, sum(f.outflows)::bigint
    FROM (
      SELECT bucket, tongban.month_of(arrived_on) AS month, origin_county AS origin,
             custodian AS residence, 1 AS inflows, 0 AS outflows
        FROM r WHERE kind = 3 AND arrived_on IS NOT NULL
         AND tongban.is_county(origin_county) AND tongban.is_county(custodian)
      UNION ALL
      SELECT bucket, tongban.month_of(left_on), custodian, destination_county, 0, 1
        FROM r WHERE kind = 2 AND left_on IS NOT NULL
         AND tongban.is_county(custodian) AND tongban.is_county(destination_county)
    ) f GROUP BY 1, 2, 3, 4
  $q$, source);
END $$;

-- Adds the mirror's deltas (pg_temp.delta_month, delta_deadline,
-- delta_flow) to the rollups. UPDATE then INSERT, not INSERT ... ON
-- CONFLICT, so that a bucket kept on another server (postgres_fdw) is
-- written the same way; rows that fall to zero are removed.
CREATE OR REPLACE FUNCTION tongban.apply_deltas() RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  CREATE TEMP TABLE IF NOT EXISTS sum_month ON COMMIT DELETE ROWS AS
    SELECT * FROM pg_temp.delta_month WITH NO DATA;
  INSERT INTO sum_month
    SELECT d.bucket, d.month, d.county, d.measure, sum(d.numerator), sum(d.denominator)
    FROM pg_temp.delta_month d GROUP BY 1, 2, 3, 4
    HAVING sum(d.numerator) <> 0 OR sum(d.denominator) <> 0;
  UPDATE tongban.rollup_month t
     SET numerator = t.numerator + d.numerator, denominator = t.denominator + d.denominator
    FROM sum_month d
   WHERE t.bucket = d.bucket AND t.month = d.month AND t.county = d.county AND t.measure = d.measure;
  INSERT INTO tongban.rollup_month
    SELECT d.* FROM sum_month d WHERE NOT EXISTS (
      SELECT 1 FROM tongban.rollup_month t WHERE t.bucket = d.bucket AND t.month = d.month
         AND t.county = d.county AND t.measure = d.measure);
  DELETE FROM tongban.rollup_month t USING sum_month d
   WHERE t.bucket = d.bucket AND t.month = d.month AND t.county = d.county
     AND t.measure = d.measure AND t.numerator = 0 AND t.denominator = 0;

  CREATE TEMP TABLE IF NOT EXISTS sum_deadline ON COMMIT DELETE ROWS AS
    SELECT * FROM pg_temp.delta_deadline WITH NO DATA;
  INSERT INTO sum_deadline
    SELECT d.bucket, d.day, d.county, sum(d.answered), sum(d.on_time), sum(d.unanswered)
    FROM pg_temp.delta_deadline d GROUP BY 1, 2, 3
    HAVING sum(d.answered) <> 0 OR sum(d.on_time) <> 0 OR sum(d.unanswered) <> 0;
  UPDATE tongban.rollup_deadline t
     SET answered = t.answered + d.answered, on_time = t.on_time + d.on_time,
         unanswered = t.unanswered + d.unanswered
    FROM sum_deadline d WHERE t.bucket = d.bucket AND t.day = d.day AND t.county = d.county;
  INSERT INTO tongban.rollup_deadline
    SELECT d.* FROM sum_deadline d WHERE NOT EXISTS (
      SELECT 1 FROM tongban.rollup_deadline t
       WHERE t.bucket = d.bucket AND t.day = d.day AND t.county = d.county);
  DELETE FROM tongban.rollup_deadline t USING sum_deadline d
   WHERE t.bucket = d.bucket AND t.day = d.day AND t.county = d.county
     AND t.answered = 0 AND t.on_time = 0 AND t.unanswered = 0;

  CREATE TEMP TABLE IF NOT EXISTS sum_flow ON COMMIT DELETE ROWS AS
    SELECT * FROM pg_temp.delta_flow WITH NO DATA;
  INSERT INTO sum_flow
    SELECT d.bucket, d.month, d.origin, d.residence, sum(d.inflows), sum(d.outflows)
    FROM pg_temp.delta_flow d GROUP BY 1, 2, 3, 4
    HAVING sum(d.inflows) <> 0 OR sum(d.outflows) <> 0;
  UPDATE tongban.rollup_flow t
     SET inflows = t.inflows + d.inflows, outflows = t.outflows + d.outflows
    FROM sum_flow d WHERE t.bucket = d.bucket AND t.month = d.month
     AND t.origin = d.origin AND t.residence = d.residence;
  INSERT INTO tongban.rollup_flow
    SELECT d.* FROM sum_flow d WHERE NOT EXISTS (
      SELECT 1 FROM tongban.rollup_flow t WHERE t.bucket = d.bucket AND t.month = d.month
         AND t.origin = d.origin AND t.residence = d.residence);
  DELETE FROM tongban.rollup_flow t USING sum_flow d
   WHERE t.bucket = d.bucket AND t.month = d.month AND t.origin = d.origin
     AND t.residence = d.residence AND t.inflows = 0 AND t.outflows = 0;
END $$;

-- Applies the mirror's staging table pg_temp.stage (every record, as the
-- node holds it now, of each person the mirror's batch touched) to
-- tongban.record and the rollups, in the caller's transaction: reads the
-- rows it replaces, adds (new contributions - old contributions) of those
-- persons to the rollups, then replaces the rows that changed. Replaying a
-- stage changes nothing. Returns the rows written.
CREATE OR REPLACE FUNCTION tongban.apply_stage() RETURNS bigint
  LANGUAGE plpgsql AS $$
DECLARE
  written bigint;
BEGIN
  PERFORM tongban.ensure_months(ARRAY(SELECT DISTINCT s.month FROM pg_temp.stage s));
  -- Key lookups, one partition each (run-time pruning), never a scan.
  PERFORM set_config('enable_hashjoin', 'off', true);
  PERFORM set_config('enable_mergejoin', 'off', true);
  INSERT INTO pg_temp.old_rows
    SELECT r.* FROM pg_temp.stage s JOIN tongban.record r
      ON r.person_key = s.person_key AND r.bucket = s.bucket AND r.month = s.month
     AND r.kind = s.kind AND r.record_key = s.record_key;
  INSERT INTO pg_temp.changed SELECT * FROM pg_temp.stage EXCEPT SELECT * FROM pg_temp.old_rows;
  DELETE FROM tongban.record r USING pg_temp.changed c
   WHERE r.person_key = c.person_key AND r.bucket = c.bucket AND r.month = c.month
     AND r.kind = c.kind AND r.record_key = c.record_key;
  INSERT INTO tongban.record SELECT * FROM pg_temp.changed;
  GET DIAGNOSTICS written = ROW_COUNT;
  PERFORM set_config('enable_hashjoin', 'on', true);
  PERFORM set_config('enable_mergejoin', 'on', true);

  INSERT INTO pg_temp.delta_month
    SELECT c.bucket, c.month, c.county, c.measure, -c.numerator, -c.denominator
    FROM tongban.contrib_month('pg_temp.old_rows') c;
  INSERT INTO pg_temp.delta_month SELECT * FROM tongban.contrib_month('pg_temp.stage');
  INSERT INTO pg_temp.delta_deadline
    SELECT c.bucket, c.day, c.county, -c.answered, -c.on_time, -c.unanswered
    FROM tongban.contrib_deadline('pg_temp.old_rows') c;
  INSERT INTO pg_temp.delta_deadline SELECT * FROM tongban.contrib_deadline('pg_temp.stage');
  INSERT INTO pg_temp.delta_flow
    SELECT c.bucket, c.month, c.origin, c.residence, -c.inflows, -c.outflows
    FROM tongban.contrib_flow('pg_temp.old_rows') c;
  INSERT INTO pg_temp.delta_flow SELECT * FROM tongban.contrib_flow('pg_temp.stage');
  PERFORM tongban.apply_deltas();
  RETURN written;
END $$;

-- The mirror's session tables (temporary, emptied at every commit).
CREATE OR REPLACE FUNCTION tongban.prepare_session() RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  EXECUTE format('CREATE TEMP TABLE IF NOT EXISTS stage (%s) ON COMMIT DELETE ROWS',
                 tongban.record_columns());
  CREATE TEMP TABLE IF NOT EXISTS old_rows ON COMMIT DELETE ROWS AS
    SELECT * FROM pg_temp.stage WITH NO DATA;
  CREATE TEMP TABLE IF NOT EXISTS changed ON COMMIT DELETE ROWS AS
    SELECT * FROM pg_temp.stage WITH NO DATA;
  CREATE TEMP TABLE IF NOT EXISTS delta_month ON COMMIT DELETE ROWS AS
    SELECT * FROM tongban.rollup_month WITH NO DATA;
  CREATE TEMP TABLE IF NOT EXISTS delta_deadline ON COMMIT DELETE ROWS AS
    SELECT * FROM tongban.rollup_deadline WITH NO DATA;
  CREATE TEMP TABLE IF NOT EXISTS delta_flow ON COMMIT DELETE ROWS AS
    SELECT * FROM tongban.rollup_flow WITH NO DATA;
END $$;

-- Recomputes every rollup from tongban.record (after restoring a database,
-- or to check the incremental ones: the rows must come out the same).
CREATE OR REPLACE FUNCTION tongban.rebuild_rollups() RETURNS void
  LANGUAGE plpgsql AS $$
BEGIN
  DELETE FROM tongban.rollup_month;
  DELETE FROM tongban.rollup_deadline;
  DELETE FROM tongban.rollup_flow;
  INSERT INTO tongban.rollup_month
    SELECT * FROM tongban.contrib_month('tongban.record')
    WHERE numerator <> 0 OR denominator <> 0;
  INSERT INTO tongban.rollup_deadline
    SELECT * FROM tongban.contrib_deadline('tongban.record');
  INSERT INTO tongban.rollup_flow SELECT * FROM tongban.contrib_flow('tongban.record');
END $$;

-- ---------------------------------------------------------------------------
-- The national measures (DOMAIN.md; definitions in workflows/stats.h) over
-- the days first..last, as on day `today` (China Standard Time), for
-- `scope` (a county, a province XX0000 or the nation 0): one row per scope
-- (every county in it with a count, its provinces, and the scope itself)
-- and measure, with numerator and denominator. Counties add up to provinces
-- and the nation, except the two one-sided measures, which count distinct
-- persons per scope.
CREATE OR REPLACE FUNCTION tongban.measures(first date, last date, today date, scope integer)
  RETURNS TABLE (code integer, measure text, numerator bigint, denominator bigint)
  LANGUAGE sql STABLE AS $$
  WITH by_county AS (
    SELECT m.county, m.measure, sum(m.numerator)::bigint AS n, sum(m.denominator)::bigint AS d
      FROM tongban.rollup_month m
     WHERE m.month BETWEEN first AND last AND tongban.in_scope(m.county, scope)
     GROUP BY 1, 2
    UNION ALL
    SELECT d.county, 'on_time_feedback', sum(d.on_time)::bigint,
           (sum(d.answered) + coalesce(sum(d.unanswered) FILTER (WHERE d.day < today), 0))::bigint
      FROM tongban.rollup_deadline d
     WHERE d.day BETWEEN first AND last AND tongban.in_scope(d.county, scope)
     GROUP BY 1
    UNION ALL
    SELECT c.county, 'certificate_coverage', c.n, c.d
      FROM tongban.certificate_coverage(least(last, today), scope) c
     WHERE least(last, today) >= first
  ),
  summed AS (
    SELECT county AS code, measure, n, d FROM by_county
    UNION ALL
    SELECT tongban.province(county), measure, sum(n)::bigint, sum(d)::bigint
      FROM by_county WHERE scope % 10000 = 0 GROUP BY 1, 2
    UNION ALL
    SELECT 0, measure, sum(n)::bigint, sum(d)::bigint FROM by_county WHERE scope = 0 GROUP BY 2
  ),
  arrived AS (
    SELECT i.person_key, i.custodian AS county,
           NOT EXISTS (SELECT 1 FROM tongban.record o
                        WHERE o.person_key = i.person_key AND o.kind = 2 AND o.live
                          AND o.parsed AND o.custodian = i.origin_county) AS hit
      FROM tongban.record i
     WHERE i.kind = 3 AND i.live AND i.parsed AND tongban.in_scope(i.custodian, scope)
       AND i.registered_on BETWEEN first AND last
  ),
  left_ AS (
    SELECT o.person_key, o.custodian AS county,
           NOT EXISTS (SELECT 1 FROM tongban.record i
                        WHERE i.person_key = o.person_key AND i.kind = 3 AND i.live
                          AND i.parsed AND i.custodian = o.destination_county) AS hit
      FROM tongban.record o
     WHERE o.kind = 2 AND o.live AND o.parsed AND tongban.in_scope(o.custodian, scope)
       AND o.left_on BETWEEN first AND last AND o.left_on + 30 < today
       AND NOT EXISTS (SELECT 1 FROM tongban.record h
                        WHERE h.person_key = o.person_key AND h.kind = 4 AND h.live AND h.parsed
                          AND h.return_type = 1 AND h.effective_on >= o.left_on)
  ),
  one_sided AS (
    SELECT 'arrived_without_origin_record' AS measure, * FROM arrived
    UNION ALL
    SELECT 'left_without_residence_record', * FROM left_
  ),
  persons AS (
    SELECT county AS code, measure, count(DISTINCT person_key) FILTER (WHERE hit) AS n,
           count(DISTINCT person_key) AS d
      FROM one_sided GROUP BY 1, 2
    UNION ALL
    SELECT tongban.province(county), measure, count(DISTINCT person_key) FILTER (WHERE hit),
           count(DISTINCT person_key)
      FROM one_sided WHERE scope % 10000 = 0 GROUP BY 1, 2
    UNION ALL
    SELECT 0, measure, count(DISTINCT person_key) FILTER (WHERE hit), count(DISTINCT person_key)
      FROM one_sided WHERE scope = 0 GROUP BY 2
  )
  SELECT code, measure, n, d FROM summed
  UNION ALL
  SELECT code, measure, n, d FROM persons
$$;

-- Certificate coverage (持证率) on reference day `ref` by county: persons
-- whose latest live inflow arrived on or before `ref` is with that county
-- and not ended by a return home or a departure from it by `ref`
-- (denominator), holding a live, unrevoked certificate valid on `ref`
-- (numerator).
CREATE OR REPLACE FUNCTION tongban.certificate_coverage(ref date, scope integer)
  RETURNS TABLE (county integer, n bigint, d bigint)
  LANGUAGE sql STABLE AS $$
  WITH current_inflow AS (
    SELECT DISTINCT ON (person_key) person_key, custodian AS residence, arrived_on
      FROM tongban.record
     WHERE kind = 3 AND live AND parsed AND arrived_on <= ref
     ORDER BY person_key, arrived_on DESC, coalesce(registered_on, DATE '1970-01-01') DESC,
              stamp_day DESC, custodian DESC
  ),
  living AS (
    SELECT c.* FROM current_inflow c
     WHERE tongban.in_scope(c.residence, scope)
       AND NOT EXISTS (
         SELECT 1 FROM tongban.record x
          WHERE x.person_key = c.person_key AND x.kind = 4 AND x.live AND x.parsed
            AND x.effective_on BETWEEN c.arrived_on AND ref
            AND (x.return_type = 1
                 OR (x.return_type = 2
                     AND (x.from_county = c.residence OR x.custodian = c.residence))))
  )
  SELECT l.residence,
         count(*) FILTER (WHERE EXISTS (
           SELECT 1 FROM tongban.record z
            WHERE z.person_key = l.person_key AND z.kind = 5 AND z.live AND z.parsed
              AND NOT z.revoked AND z.valid_from <= ref AND z.valid_to >= ref)),
         count(*)
    FROM living l GROUP BY 1
$$;

-- Flows (流动) over first..last for `scope`: county pairs in each county's
-- rows (as origin or residence), province pairs in province rows and the
-- nation's.
CREATE OR REPLACE FUNCTION tongban.flows(first date, last date, scope integer)
  RETURNS TABLE (code integer, month date, origin integer, residence integer,
                 inflows bigint, outflows bigint)
  LANGUAGE sql STABLE AS $$
  WITH f AS (
    SELECT r.month, r.origin, r.residence, sum(r.inflows)::bigint AS inflows,
           sum(r.outflows)::bigint AS outflows
      FROM tongban.rollup_flow r
     WHERE r.month BETWEEN first AND last
       AND (tongban.in_scope(r.origin, scope) OR tongban.in_scope(r.residence, scope))
     GROUP BY 1, 2, 3
  ),
  targets AS (
    SELECT f.origin AS code, f.month, f.origin, f.residence, f.inflows, f.outflows
      FROM f WHERE tongban.in_scope(f.origin, scope)
    UNION
    SELECT f.residence, f.month, f.origin, f.residence, f.inflows, f.outflows
      FROM f WHERE tongban.in_scope(f.residence, scope)
  ),
  provinces AS (
    SELECT DISTINCT p.code, f.month, f.origin, f.residence, f.inflows, f.outflows
      FROM f CROSS JOIN LATERAL (
        SELECT tongban.province(f.origin) AS code WHERE tongban.in_scope(f.origin, scope)
        UNION
        SELECT tongban.province(f.residence) WHERE tongban.in_scope(f.residence, scope)) p
     WHERE scope % 10000 = 0
  )
  SELECT code, month, origin, residence, inflows, outflows FROM targets
  UNION ALL
  SELECT code, month, tongban.province(origin), tongban.province(residence),
         sum(inflows)::bigint, sum(outflows)::bigint
    FROM provinces GROUP BY 1, 2, 3, 4
  UNION ALL
  SELECT 0, month, tongban.province(origin), tongban.province(residence),
         sum(inflows)::bigint, sum(outflows)::bigint
    FROM f WHERE scope = 0 GROUP BY 1, 2, 3, 4
$$;

-- Readable views of the same measures for staff writing their own queries.
-- The rollups by county and month (additive measures; sum them over months
-- for a statistical year, which runs October to September).
CREATE OR REPLACE VIEW tongban.monthly_measures AS
  SELECT month, county, tongban.province(county) AS province, measure,
         sum(numerator)::bigint AS numerator, sum(denominator)::bigint AS denominator
    FROM tongban.rollup_month GROUP BY 1, 2, 3, 4;

CREATE OR REPLACE VIEW tongban.monthly_flows AS
  SELECT month, origin, residence, tongban.province(origin) AS origin_province,
         tongban.province(residence) AS residence_province,
         sum(inflows)::bigint AS inflows, sum(outflows)::bigint AS outflows
    FROM tongban.rollup_flow GROUP BY 1, 2, 3;

-- The statistical year a day falls in: the year that holds its 30 September
-- (2025-10-01 .. 2026-09-30 is statistical year 2026).
CREATE OR REPLACE FUNCTION tongban.statistical_year(d date) RETURNS integer
  LANGUAGE sql IMMUTABLE PARALLEL SAFE
  AS $$ SELECT extract(year FROM d)::integer + CASE WHEN extract(month FROM d) >= 10 THEN 1 ELSE 0 END $$;

-- Every live inquiry with its reply (if any): the base of the inquiry
-- questions.
CREATE OR REPLACE VIEW tongban.inquiries AS
  SELECT q.person_key, q.custodian AS from_county, q.to_county, q.inquiry_type,
         q.sent_day, q.due_day, a.replied_day
    FROM tongban.record q
    LEFT JOIN LATERAL (
      SELECT min(r.answered_day) AS replied_day FROM tongban.record r
       WHERE r.person_key = q.person_key AND r.kind = 9 AND r.live AND r.parsed
         AND r.custodian = q.to_county AND r.answers_record = q.record_key
         AND r.answers_county = q.custodian) a ON true
   WHERE q.kind = 8 AND q.live AND q.parsed;
