"""events_append() finds a retried event id through the index, not by reading the whole table.

0002's retry check joined the batch's ids (``jsonb_array_elements``, which the planner guesses
at 100 rows) to ``events``; the planner chose a hash semi-join over a sequential scan of the
table, so every append cost time in proportion to the size of the ledger. The ids are now
collected into a ``uuid[]`` first and looked up with ``event_id = ANY(...)``: one probe of
``events_event_id_key`` per id, whatever the size of the table. Everything else in the function
is unchanged.

Both versions of the function are written out in full here, frozen as they were: a migration
never reads or patches another migration's source (see docs/event-store.md).

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

# events_append() with the retry probe through the index.
FUNCTION = r"""
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

# events_append() as migration 0002 created it, restored on downgrade.
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
                WHERE e.event_id IN (SELECT (d.e ->> 'event_id')::uuid
                                       FROM jsonb_array_elements(p_events) AS d(e))) THEN
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


def upgrade() -> None:
    op.execute(FUNCTION)


def downgrade() -> None:
    op.execute(PREVIOUS_FUNCTION)
