"""Fast appends: events_append() in one round trip, and a chain check that scales with the batch.

The client validates the events and hashes their content (``ledger.domain.chain.content_hash``);
this function takes the append lock, detects a retry, checks the expected version, reads the
head, dates the events by the database clock, links each content hash into the chain
(``link_hash``, the same bytes as the Python definition) and inserts the rows. The lock is thus
held only while the server works, never across a client round trip. Large batches still go
through COPY (``ledger.store.event_store``), hashed by the client under the same lock.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import context, op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None

# Must equal ledger.store.event_store.APPEND_LOCK_KEY ("ledger" in ASCII); a test checks it.
APPEND_LOCK_KEY = 0x6C6564676572


def _app_role() -> str:
    return context.config.attributes.get("app_role", "ledger_app")


SIGNATURE = "events_append(text, integer, jsonb)"

CREATE_FUNCTION = f"""
-- p_events is a JSON array of objects with the keys event_id, type, schema_version, data,
-- source, metadata, effective_at and content (the content hash): one parameter, so the client
-- spends nothing on array encoding.
CREATE FUNCTION events_append(
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
    PERFORM pg_advisory_xact_lock({APPEND_LOCK_KEY});

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
            '{{"content":"%s","position":%s,"prev_hash":"%s","recorded_at":"%s",'
            '"stream":"%s","stream_version":%s}}',
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

COMMENT ON FUNCTION {SIGNATURE} IS
  'Append events to one stream in one round trip; see migrations/versions/0002_events_append.py.';

REVOKE ALL ON FUNCTION {SIGNATURE} FROM PUBLIC;
"""


# The chain check of 0001 joined every inserted row to the table twice, and the planner, which
# cannot see how many rows a transition table holds, chose hash joins over the whole table: a
# 1,000-event batch cost more than its COPY. This version compares each inserted row with the one
# before it in the batch (window functions) and looks up the table only for the first row of the
# batch and of each stream in it, through the primary key and the (stream, stream_version) key.
CHECK_APPEND_FUNCTION = """
CREATE OR REPLACE FUNCTION events_check_append() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.position,
           CASE
             WHEN n.recorded_at < transaction_timestamp() OR n.recorded_at > clock_timestamp()
               THEN 'recorded_at must be the database clock at the time of the append'
             WHEN n.position = 1 AND n.prev_hash <> repeat('0', 64)
               THEN 'the first event must chain from the genesis hash'
             WHEN n.position > 1
                  AND coalesce(n.lag_position, p.position) IS DISTINCT FROM n.position - 1
               THEN 'positions must be contiguous (position ' || n.position - 1 || ' is missing)'
             WHEN n.position > 1 AND coalesce(n.lag_hash, p.hash) <> n.prev_hash
               THEN 'prev_hash must be the hash of position ' || n.position - 1
             WHEN n.position > 1 AND coalesce(n.lag_recorded_at, p.recorded_at) > n.recorded_at
               THEN 'recorded_at may not go backwards'
             WHEN n.lag_version IS NOT NULL AND n.lag_version <> n.stream_version - 1
               THEN 'stream_version must follow the stream''s version ' || n.stream_version - 1
             WHEN n.lag_version IS NULL AND n.stream_version > 1 AND s.found IS NULL
               THEN 'stream_version must follow the stream''s version ' || n.stream_version - 1
           END AS problem
      INTO bad
      FROM (
            SELECT t.position, t.stream, t.stream_version, t.recorded_at, t.prev_hash,
                   lag(t.position) OVER by_position AS lag_position,
                   lag(t.hash) OVER by_position AS lag_hash,
                   lag(t.recorded_at) OVER by_position AS lag_recorded_at,
                   lag(t.stream_version) OVER (PARTITION BY t.stream ORDER BY t.position)
                       AS lag_version
              FROM new_events t
            WINDOW by_position AS (ORDER BY t.position)
           ) AS n
      LEFT JOIN LATERAL (
            SELECT e.position, e.hash, e.recorded_at FROM events e
             WHERE n.lag_position IS NULL AND e.position = n.position - 1
           ) AS p ON true
      LEFT JOIN LATERAL (
            SELECT true AS found FROM events e
             WHERE n.lag_version IS NULL AND n.stream_version > 1
               AND e.stream = n.stream AND e.stream_version = n.stream_version - 1
           ) AS s ON true
     WHERE n.recorded_at < transaction_timestamp() OR n.recorded_at > clock_timestamp()
        OR (n.position = 1 AND n.prev_hash <> repeat('0', 64))
        OR (n.position > 1
            AND (coalesce(n.lag_position, p.position) IS DISTINCT FROM n.position - 1
                 OR coalesce(n.lag_hash, p.hash) <> n.prev_hash
                 OR coalesce(n.lag_recorded_at, p.recorded_at) > n.recorded_at))
        OR (n.lag_version IS NOT NULL AND n.lag_version <> n.stream_version - 1)
        OR (n.lag_version IS NULL AND n.stream_version > 1 AND s.found IS NULL)
     ORDER BY n.position
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'append refused at position %: %', bad.position, bad.problem
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
"""


def _grant(role: str) -> str:
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT EXECUTE ON FUNCTION {SIGNATURE} TO "{role}";
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(CHECK_APPEND_FUNCTION)
    op.execute(CREATE_FUNCTION)
    if _app_role():
        op.execute(_grant(_app_role()))


# The check of migration 0001, restored on downgrade: a frozen copy, not a reference to 0001.
PREVIOUS_CHECK_APPEND_FUNCTION = r"""
-- Every insert must continue the chain: contiguous positions and stream versions,
-- prev_hash linking to the previous event, recorded_at from this transaction's clock
-- and never earlier than the previous event's.
CREATE OR REPLACE FUNCTION events_check_append() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    bad record;
BEGIN
    SELECT n.position,
           CASE
             WHEN n.recorded_at < transaction_timestamp() OR n.recorded_at > clock_timestamp()
               THEN 'recorded_at must be the database clock at the time of the append'
             WHEN n.position = 1 AND n.prev_hash <> repeat('0', 64)
               THEN 'the first event must chain from the genesis hash'
             WHEN n.position > 1 AND p.position IS NULL
               THEN 'positions must be contiguous (position ' || n.position - 1 || ' is missing)'
             WHEN n.position > 1 AND p.hash <> n.prev_hash
               THEN 'prev_hash must be the hash of position ' || n.position - 1
             WHEN n.position > 1 AND p.recorded_at > n.recorded_at
               THEN 'recorded_at may not go backwards'
             WHEN n.stream_version > 1 AND s.position IS NULL
               THEN 'stream_version must follow the stream''s version ' || n.stream_version - 1
           END AS problem
      INTO bad
      FROM new_events n
      LEFT JOIN events p ON p.position = n.position - 1
      LEFT JOIN events s ON s.stream = n.stream AND s.stream_version = n.stream_version - 1
     WHERE n.recorded_at < transaction_timestamp() OR n.recorded_at > clock_timestamp()
        OR (n.position = 1 AND n.prev_hash <> repeat('0', 64))
        OR (n.position > 1 AND (p.position IS NULL OR p.hash <> n.prev_hash
                                OR p.recorded_at > n.recorded_at))
        OR (n.stream_version > 1 AND s.position IS NULL)
     ORDER BY n.position
     LIMIT 1;
    IF FOUND THEN
        RAISE EXCEPTION 'append refused at position %: %', bad.position, bad.problem
            USING ERRCODE = 'check_violation';
    END IF;
    RETURN NULL;
END
$$;
"""


def downgrade() -> None:
    op.execute(PREVIOUS_CHECK_APPEND_FUNCTION)
    op.execute(f"DROP FUNCTION {SIGNATURE}")
