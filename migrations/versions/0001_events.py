"""The events table: append-only, gapless, hash-chained; the service role may only read and insert.

Revision ID: 0001
Revises:
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import context, op

revision = "0001"
down_revision = None
branch_labels = None
depends_on = None


def _app_role() -> str:
    return context.config.attributes.get("app_role", "ledger_app")


CREATE_TABLE = """
CREATE TABLE events (
    position        bigint      PRIMARY KEY CHECK (position > 0),
    stream          text        NOT NULL CHECK (stream ~ '^(entity|deal)/[a-z0-9]+(-[a-z0-9]+)*$'),
    stream_version  integer     NOT NULL CHECK (stream_version > 0),
    event_id        uuid        NOT NULL UNIQUE,
    type            text        NOT NULL,
    schema_version  integer     NOT NULL CHECK (schema_version > 0),
    data            jsonb       NOT NULL CHECK (jsonb_typeof(data) = 'object'),
    source          jsonb       NOT NULL CHECK (source ? 'url' OR source ? 'title'),
    metadata        jsonb       NOT NULL DEFAULT '{}'::jsonb CHECK (jsonb_typeof(metadata) = 'object'),
    effective_at    timestamptz NOT NULL,
    recorded_at     timestamptz NOT NULL,
    prev_hash       text        NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
    hash            text        NOT NULL CHECK (hash ~ '^[0-9a-f]{64}$'),
    CONSTRAINT events_stream_version_key UNIQUE (stream, stream_version)
);
CREATE INDEX events_recorded_at_idx ON events (recorded_at);

COMMENT ON TABLE events IS
  'The ledger: immutable, gapless, hash-chained events. Appends only, through ledger.store.';
COMMENT ON COLUMN events.recorded_at IS
  'Knowledge time, from the database clock at append; never decreases with position.';
"""

CHECK_APPEND_FUNCTION = """
-- Every insert must continue the chain: contiguous positions and stream versions,
-- prev_hash linking to the previous event, recorded_at from this transaction's clock
-- and never earlier than the previous event's.
CREATE FUNCTION events_check_append() RETURNS trigger LANGUAGE plpgsql AS $$
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

IMMUTABILITY = """
CREATE FUNCTION events_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'the ledger''s events are immutable: % is refused', TG_OP
        USING ERRCODE = 'insufficient_privilege',
              HINT = 'correct a fact with a later event (e.g. EventRetracted)';
END
$$;

CREATE TRIGGER events_no_update_or_delete
    BEFORE UPDATE OR DELETE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();
CREATE TRIGGER events_no_truncate
    BEFORE TRUNCATE ON events
    FOR EACH STATEMENT EXECUTE FUNCTION events_refuse_change();

{check_append}CREATE TRIGGER events_chain_check
    AFTER INSERT ON events
    REFERENCING NEW TABLE AS new_events
    FOR EACH STATEMENT EXECUTE FUNCTION events_check_append();
""".replace("{check_append}", CHECK_APPEND_FUNCTION + "\n\n")

# Triggers fire ALWAYS, so even a session with session_replication_role = replica is refused
# (only a superuser who alters the trigger can get past -- which the hash chain then exposes).
ALWAYS = """
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_update_or_delete;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_no_truncate;
ALTER TABLE events ENABLE ALWAYS TRIGGER events_chain_check;
"""


def _grants(role: str) -> str:
    return f"""
DO $$
BEGIN
    IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        BEGIN
            CREATE ROLE "{role}" LOGIN;
        EXCEPTION
            WHEN duplicate_object OR unique_violation THEN NULL;  -- created concurrently
            WHEN insufficient_privilege THEN
                RAISE WARNING 'cannot create role {role}: ask an administrator to create it '
                              'and rerun `ledger db upgrade` to grant it its privileges';
        END;
    END IF;
END
$$;
REVOKE ALL ON events FROM PUBLIC;
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        REVOKE ALL ON events FROM "{role}";
        GRANT SELECT, INSERT ON events TO "{role}";
        GRANT SELECT ON alembic_version TO "{role}";
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(CREATE_TABLE)
    op.execute(IMMUTABILITY)
    op.execute(ALWAYS)
    if _app_role():  # LEDGER_APP_ROLE="" runs the service as the owner: no role to grant
        op.execute(_grants(_app_role()))


def downgrade() -> None:
    # Dropping the table would destroy the ledger: refuse unless it holds nothing.
    op.execute(
        """
DO $$
DECLARE n bigint;
BEGIN
    SELECT count(*) INTO n FROM events;
    IF n > 0 THEN
        RAISE EXCEPTION 'refusing to drop the events table: it holds % recorded events', n
            USING HINT = 'export them first (ledger export); committed events are never dropped';
    END IF;
END
$$;
"""
    )
    op.execute("DROP TABLE events")
    op.execute("DROP FUNCTION events_check_append()")
    op.execute("DROP FUNCTION events_refuse_change()")
