"""Bitemporal read models: one row per fact, dated on both axes, and the projectors' checkpoints.

Every row keeps its event's ``effective_at`` (valid time), ``position`` and ``recorded_at``
(knowledge time), and ``retracted_at``: the ``recorded_at`` of the retraction that removed it,
if any. "At valid time T, as known at K" is then a filter -- ``effective_at <= T``,
``recorded_at <= K``, not retracted by K -- and "the latest" is the last row in
``(effective_at, position)`` order, served by the indexes below. A back-dated correction adds a
row; a retraction stamps one; no earlier ``known_at`` view changes.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from alembic import context, op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None

TABLES = (
    "projection_checkpoints",
    "rm_entities",
    "rm_valuations",
    "rm_revenues",
    "rm_deal_events",
    "rm_deal_legs",
    "rm_tranches",
)

CREATE = """
CREATE TABLE projection_checkpoints (
    name        text        PRIMARY KEY,
    position    bigint      NOT NULL CHECK (position >= 0),
    updated_at  timestamptz NOT NULL DEFAULT clock_timestamp()
);

-- EntityRegistered and EntityRenamed
CREATE TABLE rm_entities (
    event_id      uuid        PRIMARY KEY,
    entity_id     text        NOT NULL,
    type          text        NOT NULL,
    name          text        NOT NULL,
    kind          text,
    effective_at  timestamptz NOT NULL,
    position      bigint      NOT NULL,
    recorded_at   timestamptz NOT NULL,
    retracted_at  timestamptz
);
CREATE INDEX rm_entities_latest ON rm_entities (entity_id, effective_at DESC, position DESC);

CREATE TABLE rm_valuations (
    event_id        uuid          PRIMARY KEY,
    entity_id       text          NOT NULL,
    valuation_usd   numeric(38,8) NOT NULL,
    basis           text          NOT NULL,
    round_size_usd  numeric(38,8),
    effective_at    timestamptz   NOT NULL,
    position        bigint        NOT NULL,
    recorded_at     timestamptz   NOT NULL,
    retracted_at    timestamptz
);
CREATE INDEX rm_valuations_latest ON rm_valuations (entity_id, effective_at DESC, position DESC);

CREATE TABLE rm_revenues (
    event_id        uuid          PRIMARY KEY,
    entity_id       text          NOT NULL,
    period_start    date          NOT NULL,
    period_end      date          NOT NULL,
    revenue_usd     numeric(38,8) NOT NULL,
    net_income_usd  numeric(38,8),
    cash_burn_usd   numeric(38,8),
    rnd_usd         numeric(38,8),
    cash_usd        numeric(38,8),
    forecast        boolean       NOT NULL,
    effective_at    timestamptz   NOT NULL,
    position        bigint        NOT NULL,
    recorded_at     timestamptz   NOT NULL,
    retracted_at    timestamptz
);
CREATE INDEX rm_revenues_latest
    ON rm_revenues (entity_id, period_end DESC, effective_at DESC, position DESC);

-- DealAnnounced, DealAmended (each with its full set of legs) and DealTerminated
CREATE TABLE rm_deal_events (
    event_id      uuid        PRIMARY KEY,
    deal_id       text        NOT NULL,
    type          text        NOT NULL,
    title         text,
    effective_at  timestamptz NOT NULL,
    position      bigint      NOT NULL,
    recorded_at   timestamptz NOT NULL,
    retracted_at  timestamptz
);
CREATE INDEX rm_deal_events_latest ON rm_deal_events (deal_id, effective_at DESC, position DESC);

CREATE TABLE rm_deal_legs (
    event_id       uuid          NOT NULL REFERENCES rm_deal_events (event_id),
    leg            text          NOT NULL,
    deal_id        text          NOT NULL,
    payer          text          NOT NULL,
    payee          text          NOT NULL,
    instrument     text          NOT NULL,
    headline_usd   numeric(38,8),
    committed_usd  numeric(38,8),
    capacity_gw    numeric(38,8),
    shares         numeric(38,8),
    term_start     date,
    term_end       date,
    PRIMARY KEY (event_id, leg)
);

CREATE TABLE rm_tranches (
    event_id      uuid          PRIMARY KEY,
    deal_id       text          NOT NULL,
    leg           text          NOT NULL,
    amount_usd    numeric(38,8) NOT NULL,
    effective_at  timestamptz   NOT NULL,
    position      bigint        NOT NULL,
    recorded_at   timestamptz   NOT NULL,
    retracted_at  timestamptz
);
CREATE INDEX rm_tranches_by_leg ON rm_tranches (deal_id, leg);
"""


def _grants(role: str) -> str:
    tables = ", ".join(TABLES)
    return f"""
DO $$
BEGIN
    IF EXISTS (SELECT FROM pg_roles WHERE rolname = '{role}') THEN
        GRANT SELECT, INSERT, UPDATE, DELETE ON {tables} TO "{role}";
    END IF;
END
$$;
"""


def upgrade() -> None:
    op.execute(CREATE)
    if role := context.config.attributes.get("app_role", "ledger_app"):
        op.execute(_grants(role))


def downgrade() -> None:
    # Read models are derived data: `ledger projections rebuild` recreates them from the events.
    for table in reversed(TABLES):
        op.execute(f"DROP TABLE {table}")
