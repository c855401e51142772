"""events_append() as a whole transaction: no retry probe on the common path, NOTIFY inside.

Why. A single-event append was bounded by round trips and by work done for the rare case:

* The client sent BEGIN, the call, NOTIFY and COMMIT (pipelined, but still several
  synchronisations with the server). The function now sends the ``ledger_appended``
  notification itself, so the client calls it as one autocommit statement: one message out,
  one answer back, the commit included.
* Every append probed ``events_event_id_key`` for a retried id before taking the lock, and the
  planner, with a young table's statistics, could choose a sequential scan for it. The unique
  key already performs that check as the row is inserted: a retry without an expected version
  now fails there (``events_event_id_key``), and the client then reads what was recorded. A
  retry *with* an expected version finds its stream moved on by its own events, so only on a
  version conflict does the function look the ids up (one index probe per id) to answer
  'replayed' rather than 'conflict'.
* The stream's version is read as the first entry of ``events_stream_version_key`` in
  descending order instead of ``max()`` over all of the stream's versions.

Everything else (lock, head, clock, hash bytes, rows) is as in migrations 0002 and 0004.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-01
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

# Must equal ledger.store.event_store.APPEND_LOCK_KEY ("ledger" in ASCII), as in 0002.
APPEND_LOCK_KEY = 0x6C6564676572
SIGNATURE = "events_append(text, integer, jsonb)"

# Must equal ledger.store.event_store.APPENDED_CHANNEL; a test checks it.
APPENDED_CHANNEL = "ledger_appended"

FUNCTION = f"""
CREATE OR REPLACE FUNCTION events_append(
    p_stream           text,
    p_expected_version integer,
    p_events           jsonb
) RETURNS TABLE (
    outcome            text,         -- 'recorded', 'replayed' (an event id exists) or 'conflict'
    out_position       bigint,
    out_stream_version integer,      -- for 'conflict': the stream's current version
    out_recorded_at    timestamptz,
    out_prev_hash      text,
    out_hash           text
)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    n          integer;
    v_id       uuid;
    v_version  integer;
    v_position bigint;
    v_prev     text;
    v_head_at  timestamptz;
    v_now      timestamptz;
    v_now_text text;
    positions  bigint[]  := '{{}}';
    versions   integer[] := '{{}}';
    prevs      text[]    := '{{}}';
    hashes     text[]    := '{{}}';
BEGIN
    IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' OR jsonb_array_length(p_events) = 0 THEN
        RAISE EXCEPTION 'events_append needs a non-empty JSON array of events'
            USING ERRCODE = 'data_exception';
    END IF;
    n := jsonb_array_length(p_events);
    IF EXISTS (SELECT FROM jsonb_array_elements(p_events) AS d(e)
                WHERE (d.e ->> 'content') IS NULL OR (d.e ->> 'content') !~ '^[0-9a-f]{{64}}$') THEN
        RAISE EXCEPTION 'events_append: a content hash is not 64 hexadecimal digits'
            USING ERRCODE = 'data_exception';
    END IF;

    -- Each statement below takes its snapshot after the lock is held (VOLATILE plpgsql).
    PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});

    SELECT e.stream_version INTO v_version
      FROM events e WHERE e.stream = p_stream ORDER BY e.stream_version DESC LIMIT 1;
    v_version := coalesce(v_version, 0);
    IF p_expected_version IS NOT NULL AND p_expected_version <> v_version THEN
        -- A retry of a recorded append meets the version its own events made.
        FOR v_id IN SELECT (d.e ->> 'event_id')::uuid FROM jsonb_array_elements(p_events) AS d(e)
        LOOP
            IF EXISTS (SELECT FROM events e WHERE e.event_id = v_id) THEN
                RETURN QUERY SELECT 'replayed'::text, NULL::bigint, NULL::integer,
                                    NULL::timestamptz, NULL::text, NULL::text;
                RETURN;
            END IF;
        END LOOP;
        RETURN QUERY SELECT 'conflict'::text, NULL::bigint, v_version, NULL::timestamptz,
                            NULL::text, NULL::text;
        RETURN;
    END IF;

    SELECT e.position, e.hash, e.recorded_at INTO v_position, v_prev, v_head_at
      FROM events e ORDER BY e.position DESC LIMIT 1;
    v_position := coalesce(v_position, 0);
    v_prev := coalesce(v_prev, repeat('0', 64));
    v_now := greatest(clock_timestamp(), v_head_at);
    v_now_text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

    FOR i IN 1 .. n LOOP
        v_position := v_position + 1;
        v_version := v_version + 1;
        positions[i] := v_position;
        versions[i] := v_version;
        prevs[i] := v_prev;
        -- ledger.domain.chain.link_hash: canonical JSON, keys sorted, no whitespace.
        v_prev := encode(sha256(convert_to(format(
            '{{"content":"%s","position":%s,"prev_hash":"%s","recorded_at":"%s",'
            '"stream":"%s","stream_version":%s}}',
            p_events -> (i - 1) ->> 'content', v_position, prevs[i], v_now_text, p_stream,
            v_version
        ), 'UTF8')), 'hex');
        hashes[i] := v_prev;
    END LOOP;

    -- An event id already recorded fails here, on events_event_id_key: the client reads the
    -- recorded events and answers the retry with them (or refuses a batch that differs).
    INSERT INTO events (position, stream, stream_version, event_id, type, schema_version,
                        data, source, metadata, effective_at, recorded_at, prev_hash, hash)
    SELECT positions[d.i], p_stream, versions[d.i], (d.e ->> 'event_id')::uuid, d.e ->> 'type',
           (d.e ->> 'schema_version')::integer, d.e -> 'data', d.e -> 'source',
           d.e -> 'metadata', (d.e ->> 'effective_at')::timestamptz, v_now, prevs[d.i],
           hashes[d.i]
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS d(e, i);

    -- Delivered with the commit to every listener (projector, subscriptions).
    PERFORM pg_notify('{APPENDED_CHANNEL}', '');

    RETURN QUERY SELECT 'recorded'::text, u.pos, u.ver, v_now, u.prev, u.hsh
      FROM unnest(positions, versions, prevs, hashes) AS u(pos, ver, prev, hsh);
END
$fn$;

COMMENT ON FUNCTION {SIGNATURE} IS
  'Append events to one stream as one statement; see migrations/versions/0008_events_append_one_statement.py.';
"""


def upgrade() -> None:
    op.execute(FUNCTION)


# events_append() as migration 0004 left it, restored on downgrade (a frozen copy, not a
# reference to 0004's source).
PREVIOUS_FUNCTION = r"""
-- p_events is a JSON array of objects with the keys event_id, type, schema_version, data,
-- source, metadata, effective_at and content (the content hash): one parameter, so the client
-- spends nothing on array encoding.
CREATE OR REPLACE FUNCTION events_append(
    p_stream           text,
    p_expected_version integer,
    p_events           jsonb
) RETURNS TABLE (
    outcome            text,         -- 'recorded', 'replayed' (an event id exists) or 'conflict'
    out_position       bigint,
    out_stream_version integer,      -- for 'conflict': the stream's current version
    out_recorded_at    timestamptz,
    out_prev_hash      text,
    out_hash           text
)
LANGUAGE plpgsql VOLATILE AS $fn$
#variable_conflict use_column
DECLARE
    n          integer;
    v_version  integer;
    v_position bigint;
    v_prev     text;
    v_head_at  timestamptz;
    v_now      timestamptz;
    v_now_text text;
    positions  bigint[]  := '{}';
    versions   integer[] := '{}';
    prevs      text[]    := '{}';
    hashes     text[]    := '{}';
BEGIN
    IF jsonb_typeof(p_events) IS DISTINCT FROM 'array' OR jsonb_array_length(p_events) = 0 THEN
        RAISE EXCEPTION 'events_append needs a non-empty JSON array of events'
            USING ERRCODE = 'data_exception';
    END IF;
    n := jsonb_array_length(p_events);
    IF EXISTS (SELECT FROM jsonb_array_elements(p_events) AS d(e)
                WHERE (d.e ->> 'content') IS NULL OR (d.e ->> 'content') !~ '^[0-9a-f]{64}$') THEN
        RAISE EXCEPTION 'events_append: a content hash is not 64 hexadecimal digits'
            USING ERRCODE = 'data_exception';
    END IF;

    -- A retry is detected before the lock, so the lock is held no longer than it must be. An
    -- id recorded by a transaction that commits after this check makes the INSERT below fail
    -- on events_event_id_key; the client then asks again and gets 'replayed'.
    IF EXISTS (SELECT FROM events e
                WHERE e.event_id = ANY (ARRAY(SELECT (d.e ->> 'event_id')::uuid
                                                FROM jsonb_array_elements(p_events) AS d(e))))
    THEN
        RETURN QUERY SELECT 'replayed'::text, NULL::bigint, NULL::integer, NULL::timestamptz,
                            NULL::text, NULL::text;
        RETURN;
    END IF;

    -- Each statement below takes its snapshot after the lock is held (VOLATILE plpgsql).
    PERFORM pg_advisory_xact_lock(119182731994482);

    SELECT (SELECT coalesce(max(e.stream_version), 0) FROM events e WHERE e.stream = p_stream),
           h.position, h.hash, h.recorded_at
      INTO v_version, v_position, v_prev, v_head_at
      FROM (SELECT 1) AS one
      LEFT JOIN LATERAL (
            SELECT e.position, e.hash, e.recorded_at FROM events e ORDER BY e.position DESC LIMIT 1
           ) AS h ON true;
    IF p_expected_version IS NOT NULL AND p_expected_version <> v_version THEN
        RETURN QUERY SELECT 'conflict'::text, NULL::bigint, v_version, NULL::timestamptz,
                            NULL::text, NULL::text;
        RETURN;
    END IF;
    v_position := coalesce(v_position, 0);
    v_prev := coalesce(v_prev, repeat('0', 64));
    v_now := greatest(clock_timestamp(), v_head_at);
    v_now_text := to_char(v_now AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"');

    FOR i IN 1 .. n LOOP
        v_position := v_position + 1;
        v_version := v_version + 1;
        positions[i] := v_position;
        versions[i] := v_version;
        prevs[i] := v_prev;
        -- ledger.domain.chain.link_hash: canonical JSON, keys sorted, no whitespace.
        v_prev := encode(sha256(convert_to(format(
            '{"content":"%s","position":%s,"prev_hash":"%s","recorded_at":"%s",'
            '"stream":"%s","stream_version":%s}',
            p_events -> (i - 1) ->> 'content', v_position, prevs[i], v_now_text, p_stream,
            v_version
        ), 'UTF8')), 'hex');
        hashes[i] := v_prev;
    END LOOP;

    INSERT INTO events (position, stream, stream_version, event_id, type, schema_version,
                        data, source, metadata, effective_at, recorded_at, prev_hash, hash)
    SELECT positions[d.i], p_stream, versions[d.i], (d.e ->> 'event_id')::uuid, d.e ->> 'type',
           (d.e ->> 'schema_version')::integer, d.e -> 'data', d.e -> 'source',
           d.e -> 'metadata', (d.e ->> 'effective_at')::timestamptz, v_now, prevs[d.i],
           hashes[d.i]
      FROM jsonb_array_elements(p_events) WITH ORDINALITY AS d(e, i);

    RETURN QUERY SELECT 'recorded'::text, u.pos, u.ver, v_now, u.prev, u.hsh
      FROM unnest(positions, versions, prevs, hashes) AS u(pos, ver, prev, hsh);
END
$fn$;

COMMENT ON FUNCTION events_append(text, integer, jsonb) IS
  'Append events to one stream in one round trip; see migrations/versions/0002_events_append.py.';

REVOKE ALL ON FUNCTION events_append(text, integer, jsonb) FROM PUBLIC;
"""


def downgrade() -> None:
    op.execute(PREVIOUS_FUNCTION)
    op.execute(
        f"COMMENT ON FUNCTION {SIGNATURE} IS 'Append events to one stream in one round "
        "trip; see migrations/versions/0002_events_append.py.'"
    )
