"""Fuzz the whole GraphQL schema over HTTP with hypothesis-graphql (issue: "at least 1,000
generated valid queries per CI run: no response may be a 5xx or an unhandled error").

A real ``ledger serve`` on a free port over a real PostgreSQL, seeded with a small web of
entities, deals, valuations and revenue, is sent:

* ``QUERY_EXAMPLES`` generated queries (every root field, every argument, random selections),
  each with a key of a random role or none;
* ``MUTATION_EXAMPLES`` generated mutations with a writer's key, whose results must each be
  one of the typed results (``Recorded`` or a refusal), or else a clean GraphQL error.

Most operations ask for one root field (cheaper to generate, and one bad value refuses only
that field), some for several. The scalars get strategies of their own, mostly valid values
(timezone-aware ISO-8601 instants, bare dates, plain decimals, ids and words the seed knows)
and now and then garbage (naive times, NaN, floats, exponents, any text, NUL included): the
generated operations should reach the resolvers and the commands, not all be refused at the
first bad value.

What counts as a failure, per request (``Fuzzer.check``):

1. an HTTP status of 500 or more, or a body that is not a JSON object with ``data`` or
   ``errors``;
2. an error located at a field (``path``) without ``extensions``: the server's own errors
   always carry a ``code`` or a ``field``; an exception that escaped a resolver carries none;
3. an error message that reads like a leaked exception (a driver, an exception class name,
   Python's own wording);
4. in the server's JSON log (api.observability) up to this request's access line -- found by
   the ``X-Request-ID`` the test sends -- a traceback whose final exception is not the
   ``GraphQLError`` the resolvers raise on purpose or the ``ValueError`` with which the
   scalars refuse a value, or an error-level line from any logger but Strawberry's. This
   catches what the response hides (an ``OverflowError`` in a scalar parser, reported as a
   plain validation error), pinned on the request that caused it, so Hypothesis can shrink it.

Server bugs found are kept in ``KNOWN_BUGS`` while open (tolerated in the exact form found,
each reproduced by a strict xfail test); the four found so far are fixed, and their
reproductions are regression tests at the end of the file.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import graphql
import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis_graphql import mutations, nodes, queries

from ledger.store.keys import create_key
from tests.conftest import TestDatabase, _fresh_database
from tests.e2e.processes import Server, clean_env

SDL = (Path(__file__).resolve().parents[2] / "api" / "schema.graphql").read_text()

# Together the 1,000 generated operations per run; the larger run of
# docs/reliability.md sets LEDGER_TEST_RELIABILITY_FUZZ_QUERIES / _FUZZ_MUTATIONS.
QUERY_EXAMPLES = int(os.environ.get("LEDGER_TEST_RELIABILITY_FUZZ_QUERIES") or 700)
MUTATION_EXAMPLES = int(os.environ.get("LEDGER_TEST_RELIABILITY_FUZZ_MUTATIONS") or 300)

# -- the seed: a small web the generated operations can find ---------------------------------

ENTITIES = ("nvidia", "openai", "oracle", "amd", "coreweave")
DEALS = ("nvidia-openai", "oracle-openai", "amd-openai", "coreweave-nvidia")
LEG_NAMES = ("equity", "systems", "cloud", "warrants", "backstop")
# What the generated strings are made of, mostly: words the seed or the schema knows, so that
# lookups find something and some mutations are recorded. Reads also get event types and
# stream names; mutations get slugs (ids, legs), kinds, bases, instruments and a URL.
SLUGS = (*ENTITIES, *DEALS, *LEG_NAMES, "new-co", "x1")
WORDS = (
    *SLUGS,
    "purchase",
    "company",
    "secondary_sale",
    "EntityRegistered",
    "DealAnnounced",
    "TrancheFunded",
    "entity/openai",
    "deal/nvidia-openai",
    "",
)
MUTATION_WORDS = (
    *SLUGS,
    "purchase",
    "company",
    "fund",
    "other",
    "secondary_sale",
    "market_cap",
    "https://example.com/report",
)
SOURCE = {"url": "https://example.com/report", "title": "A public report"}

SEED = [
    *(
        (
            """mutation($id: String!, $s: SourceInput!) { registerEntity(entityId: $id,
                 name: $id, kind: "company", effectiveAt: "2015-01-01", source: $s) {
                 __typename } }""",
            {"id": entity, "s": SOURCE},
        )
        for entity in ENTITIES
    ),
    (
        """mutation($s: SourceInput!) { announceDeal(dealId: "nvidia-openai", title: "NVDA-OAI",
             effectiveAt: "2025-09-22", source: $s, legs: [
               {leg: "equity", payer: "nvidia", payee: "openai", instrument: "equity",
                headlineUsd: "100000000000"},
               {leg: "systems", payer: "openai", payee: "nvidia", instrument: "purchase",
                capacityGw: "10", headlineUsd: "35000000000", committedUsd: "10000000000",
                termStart: "2026-01-01", termEnd: "2030-12-31"}]) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { announceDeal(dealId: "oracle-openai", title: "Stargate",
             effectiveAt: "2025-07-22", source: $s, legs: [
               {leg: "cloud", payer: "openai", payee: "oracle", instrument: "purchase",
                headlineUsd: "300000000000"}]) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { announceDeal(dealId: "amd-openai", title: "AMD-OAI",
             effectiveAt: "2025-10-06", source: $s, legs: [
               {leg: "systems", payer: "openai", payee: "amd", instrument: "purchase",
                capacityGw: "6", headlineUsd: "90000000000"},
               {leg: "warrants", payer: "amd", payee: "openai", instrument: "equity",
                shares: "160000000"}]) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { announceDeal(dealId: "coreweave-nvidia", title: "CW",
             effectiveAt: "2025-09-15", source: $s, legs: [
               {leg: "backstop", payer: "nvidia", payee: "coreweave", instrument: "backstop",
                headlineUsd: "6300000000"}]) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { fundTranche(dealId: "nvidia-openai", leg: "equity",
             amountUsd: "10000000000", effectiveAt: "2025-11-01", source: $s) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { reportValuation(entityId: "openai",
             valuationUsd: "500000000000", basis: "secondary_sale", effectiveAt: "2025-10-02",
             source: $s) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { reportValuation(entityId: "coreweave",
             valuationUsd: "60000000000", basis: "market_cap", roundSizeUsd: "1",
             effectiveAt: "2025-09-01", source: $s) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { reportRevenue(entityId: "openai",
             periodStart: "2025-01-01", periodEnd: "2025-06-30", revenueUsd: "4300000000",
             netIncomeUsd: "-13500000000", cashBurnUsd: "2500000000",
             effectiveAt: "2025-10-01", source: $s) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { reportRevenue(entityId: "openai", forecast: true,
             periodStart: "2026-01-01", periodEnd: "2026-12-31", revenueUsd: "30000000000",
             effectiveAt: "2025-10-01", source: $s) { __typename } }""",
        {"s": SOURCE},
    ),
    (
        """mutation($s: SourceInput!) { terminateDeal(dealId: "coreweave-nvidia",
             reason: "superseded", effectiveAt: "2025-12-01", source: $s) { __typename } }""",
        {"s": SOURCE},
    ),
]

# -- value strategies for the scalars --------------------------------------------------------
#
# Every scalar is mostly valid, with garbage now and then (about one value in sixteen): an
# operation has many arguments, and one bad value makes the whole operation fail validation,
# so with more garbage hardly anything would reach the resolvers.


def mostly(
    valid: st.SearchStrategy[graphql.ValueNode], garbage: st.SearchStrategy[graphql.ValueNode]
) -> st.SearchStrategy[graphql.ValueNode]:
    return st.integers(1, 16).flatmap(lambda i: garbage if i == 7 else valid)


OFFSETS = st.sampled_from(
    [
        dt.UTC,
        dt.timezone(dt.timedelta(hours=5, minutes=30)),
        dt.timezone(-dt.timedelta(hours=8)),
        dt.timezone(dt.timedelta(hours=23, minutes=59)),
    ]
)
LANDMARKS = (
    "2015-01-01",
    "2025-09-22",
    "2025-10-31",
    "2025-10-31T12:00:00Z",
    "2025-10-31T12:00:00.5-03:00",
    "2100-01-01",
    "0001-01-01",
    "0001-01-02T00:00:00Z",
    "9999-12-31",
    "9999-12-31T23:59:59Z",
)
DATETIME = mostly(
    st.one_of(
        st.sampled_from(LANDMARKS),
        st.datetimes(timezones=OFFSETS).map(dt.datetime.isoformat),
        st.datetimes(timezones=st.just(dt.UTC)).map(lambda t: t.isoformat().replace("+00:00", "Z")),
        st.dates().map(dt.date.isoformat),
    ).map(nodes.String),
    # refused with a GraphQL error: no timezone, not a date, a number
    st.one_of(
        st.datetimes().map(dt.datetime.isoformat),
        st.sampled_from(["", "now", "2025-13-01", "2025-02-30", "2025-01-01Z", "12:00"]),
        st.text(max_size=12),
    ).map(nodes.String)
    | st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
)

DATE = mostly(
    st.one_of(
        st.sampled_from(["2025-01-01", "2025-06-30", "0001-01-01", "9999-12-31"]),
        st.dates().map(dt.date.isoformat),
    ).map(nodes.String),
    st.one_of(
        st.sampled_from(["", "2025-02-30", "2025-01-01T00:00:00Z", "yesterday"]),
        st.text(max_size=12),
    ).map(nodes.String)
    | st.integers(0, 10**6).map(nodes.Int),
)

# Exponents stay modest: the server writes an amount out in plain digits (format_usd) before
# it checks its size, so "1e999999999" would cost it a gigabyte and seconds of its event loop
# (reported separately); the point here is the error handling.
DECIMAL = mostly(
    st.one_of(
        st.sampled_from(
            ["0", "1", "0.5", "1000.5", "100000000000", "-1", "-0", "0.000000001", "1e40"]
        ),
        st.builds(
            lambda whole, decimals: f"{whole}.{decimals}" if decimals is not None else str(whole),
            st.integers(0, 10**32),
            st.none() | st.integers(0, 10**10),
        ),
    ).map(nodes.String)
    | st.integers(-(10**40), 10**40).map(nodes.Int),
    # garbage: the server must answer it with a GraphQL error, never a 5xx
    st.one_of(
        st.sampled_from(["NaN", "-Infinity", "sNaN", "1,000", "$5", "", " ", "0x10", "١٢"]),
        st.text(max_size=10),
    ).map(nodes.String)
    | st.floats(allow_nan=False, allow_infinity=False).map(nodes.Float)
    | st.booleans().map(nodes.Boolean),
)

JSON_LEAF = st.one_of(
    st.just(graphql.NullValueNode()),
    st.booleans().map(nodes.Boolean),
    st.integers(-(2**31), 2**31 - 1).map(nodes.Int),
    st.text(max_size=10).map(nodes.String),
)


def _object(fields: dict[str, graphql.ValueNode]) -> graphql.ObjectValueNode:
    return nodes.Object(
        [
            graphql.ObjectFieldNode(name=graphql.NameNode(value=k), value=v)
            for k, v in fields.items()
        ]
    )


# JSON is the events' metadata: mostly what the ledger accepts there, sometimes anything.
JSON_VALUE = mostly(
    st.one_of(
        st.just(graphql.NullValueNode()),
        st.fixed_dictionaries(
            {},
            optional={
                "actor": st.text(max_size=10).map(nodes.String),
                "request_id": st.sampled_from(["r-1", ""]).map(nodes.String),
                "correlation_id": st.uuids().map(str).map(nodes.String),
            },
        ).map(_object),
    ),
    st.one_of(
        JSON_LEAF,
        st.lists(JSON_LEAF, max_size=3).map(nodes.List),
        st.dictionaries(st.sampled_from(["a", "actor", "causation_id"]), JSON_LEAF, max_size=3).map(
            _object
        ),
    ),
)

# Strings and ids the seed knows, so that lookups find something, or anything at all
# (\x00, other control characters and astral planes included).
TEXT = st.text(max_size=20).map(nodes.String)
INT = st.one_of(
    st.integers(-3, 60),
    st.sampled_from([-(2**31), 2**31 - 1, 0, 1, 3, 4, 500, 501, 1000, 1001]),
).map(nodes.Int)


def _scalars(
    event_ids: list[str], *, mutation: bool = False
) -> dict[str, st.SearchStrategy[graphql.ValueNode]]:
    known = st.sampled_from(event_ids) if event_ids else st.nothing()
    if mutation:
        # IDs of a mutation are event ids: a new one (eventId), or one the ledger has
        # (targetEventId; as eventId, a duplicate)
        ids = mostly(
            (st.uuids().map(str) | known).map(nodes.String),
            TEXT | st.integers(0, 100).map(nodes.Int),
        )
    else:
        # ids of entities and deals mostly
        ids = st.one_of(
            st.sampled_from(WORDS), known, st.uuids().map(str), st.text(max_size=20)
        ).map(nodes.String)
        ids = mostly(ids, st.integers(0, 100).map(nodes.Int))  # an Int literal is a fine ID
    return {
        "DateTime": DATETIME,
        "Date": DATE,
        "Decimal": DECIMAL,
        "JSON": JSON_VALUE,
        "String": mostly(
            st.sampled_from(MUTATION_WORDS if mutation else WORDS).map(nodes.String), TEXT
        ),
        "ID": ids,
        "Int": INT,
    }


# -- what counts as a failure ----------------------------------------------------------------

LEAKED = re.compile(
    r"Traceback|Internal Server Error|\bpsycopg|\bsqlalchemy|\bOperationalError|"
    r"\b(Key|Type|Attribute|Assertion|Index|Name|ZeroDivision|Overflow|Recursion|Lookup|"
    r"Unicode(Encode|Decode)?|Runtime|NotImplemented|Data|Integrity|Programming)Error\b|"
    r"object has no attribute|object is not (subscriptable|iterable|callable)|"
    r"unsupported operand|not supported between instances|NoneType|"
    r"takes \d+ positional argument|unexpected keyword argument|missing \d+ required|"
    r"date value out of range|year \d+ is out of range|"
    r"decimal\.(InvalidOperation|DivisionByZero)|\[<class 'decimal",
)
# The exceptions the server raises on purpose: resolvers' GraphQLError, scalars' ValueError
# (graphql-core turns the latter into "Expected value of type ..." validation errors).
EXPECTED_IN_LOG = {"graphql.error.graphql_error.GraphQLError", "GraphQLError", "ValueError"}
CHAINED = (
    "During handling of the above exception, another exception occurred:",
    "The above exception was the direct cause of the following exception:",
)


# Server bugs this fuzzer found, tolerated here -- only in the exact form found -- so that it
# keeps looking for new ones. Each has a strict xfail test at the end of this file with its
# minimal reproduction: once the server is fixed that test XPASSes, which fails the run;
# then delete the entry here and the test.
@dataclass(frozen=True)
class KnownBug:
    message: re.Pattern[str]  # the error as the client sees it
    logged: re.Pattern[str]  # the final exception line of its traceback in the server's log
    field: str | None = None  # the root field it happens under, if only one


KNOWN_BUGS: dict[str, KnownBug] = {}  # none open: the four found are fixed, see below


def final_exceptions(lines: list[str]) -> list[str]:
    """The exception line that ends each traceback in ``lines`` (of a chain: the last one)."""
    finals: list[str] = []
    pending: str | None = None
    in_frames = False
    for text in lines:
        if text.startswith("Traceback (most recent call last):"):
            if pending is not None:
                finals.append(pending)
                pending = None
            in_frames = True
        elif in_frames:
            if text.startswith(" ") or not text:
                continue
            pending, in_frames = text, False
        elif text in CHAINED:
            pending = None  # superseded by the traceback that follows
    if pending is not None:
        finals.append(pending)
    return finals


def _record(line: str) -> dict[str, Any] | None:
    """A line of the server's log as the JSON object it is (api.observability), if it is one."""
    if not line.startswith("{"):
        return None
    try:
        record = json.loads(line)
    except ValueError:
        return None
    return record if isinstance(record, dict) else None


@dataclass
class Fuzzer:
    server: Server
    keys: dict[str, str | None]
    event_ids: list[str]
    client: httpx.Client
    sent: int = 0
    log_read: int = 0  # lines of server.output already judged
    waited: float = 0.0  # seconds spent waiting for the server's answers
    counts: dict[str, int] = field(default_factory=dict)
    known: dict[str, int] = field(default_factory=dict)  # KNOWN_BUGS met

    def post(self, query: str, key: str | None, **variables: Any) -> tuple[httpx.Response, str]:
        self.sent += 1
        request_id = f"fuzz-{self.sent}"
        headers = {"X-Request-ID": request_id}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        body: dict[str, Any] = {"query": query}
        if variables:
            body["variables"] = variables
        started = time.perf_counter()
        response = self.client.post("/graphql", json=body, headers=headers)
        self.waited += time.perf_counter() - started
        return response, request_id

    def log_of(self, request_id: str) -> list[dict[str, Any]]:
        """What the server logged since the last request, up to this one's access line (which
        the server writes once the request is done: its errors were logged before)."""
        deadline = time.monotonic() + 10
        while True:
            lines = self.server.output[self.log_read :]
            for i, line in enumerate(lines):
                record = _record(line)
                if (
                    record
                    and record.get("event") == "request"
                    and (record.get("request_id") == request_id)
                ):
                    self.log_read += i + 1
                    return [r for r in map(_record, lines[: i + 1]) if r]
            if time.monotonic() > deadline:
                raise AssertionError(
                    f"no access-log line for {request_id} in the server's output; this test "
                    "reads the JSON log of api.observability:\n" + "".join(lines[-40:])
                )
            time.sleep(0.001)

    def check(self, query: str, key: str | None, *, tolerate: bool = True) -> dict[str, Any]:
        """Send one operation and judge the answer; ``tolerate`` the KNOWN_BUGS or not."""
        response, request_id = self.post(query, key)
        log = self.log_of(request_id)
        where = f"\n--- operation ---\n{query}\n--- response ({response.status_code}) ---\n"
        assert response.status_code < 500, where + response.text[:2000]
        try:
            body = response.json()
        except ValueError:
            raise AssertionError(where + "not JSON: " + response.text[:2000]) from None
        assert isinstance(body, dict) and ("data" in body or "errors" in body), where + str(body)
        errors = body.get("errors") or []
        tolerated: list[re.Pattern[str]] = []
        for error in errors:
            message = str(error.get("message", ""))
            path = error.get("path") or [None]
            known = [
                name
                for name, bug in KNOWN_BUGS.items()
                if tolerate and bug.message.search(message) and bug.field in (None, path[0])
            ]
            if known:
                self.known[known[0]] = self.known.get(known[0], 0) + 1
                tolerated.append(KNOWN_BUGS[known[0]].logged)
                continue
            assert not LEAKED.search(message), where + f"a leaked exception: {error}"
            if error.get("path"):
                assert error.get("extensions"), (
                    where + f"an exception escaped a resolver (no extensions): {error}"
                )
        for record in log:
            finals = final_exceptions(str(record.get("exception", "")).splitlines())
            unexpected = [
                e
                for e in finals
                if e.split(":", 1)[0].strip() not in EXPECTED_IN_LOG
                and not any(pattern.search(e) for pattern in tolerated)
            ]
            failed = (
                record.get("level") in ("error", "critical")
                and record.get("logger") != "strawberry.execution"
            )
            assert not unexpected and not failed, (
                where + str(body)[:2000] + "\n--- server log ---\n" + json.dumps(record, indent=1)
            )
        outcome = "errors" if errors else "data"
        self.counts[outcome] = self.counts.get(outcome, 0) + 1
        return body


@pytest.fixture(scope="module")
def fuzz_database(pg_admin_url: str, template_database: str) -> Iterator[TestDatabase]:
    """A database of this module's own: one server for both fuzz tests."""
    yield from _fresh_database(pg_admin_url, template_database)


@pytest.fixture(scope="module")
def fuzzer(fuzz_database: TestDatabase) -> Iterator[Fuzzer]:
    # Generated atPosition / atLeastPosition beyond the log are waited for, then refused:
    # a short wait keeps a thousand operations quick.
    env = clean_env(
        LEDGER_DATABASE_URL=fuzz_database.libpq_url,
        LEDGER_LOG_LEVEL="info",
        LEDGER_READ_WAIT_MS="100",
    )
    keys: dict[str, str | None] = {
        role: create_key(fuzz_database.owner_engine, role, f"fuzz-{role}")[1]
        for role in ("reader", "writer", "auditor")
    }
    keys["anonymous"] = None
    with (
        Server(env) as server,
        httpx.Client(base_url=server.url, timeout=30) as client,
    ):
        fuzz = Fuzzer(server=server, keys=keys, event_ids=[], client=client)
        for query, variables in SEED:
            answer = fuzz.post(query, keys["writer"], **variables)[0].json()
            assert "errors" not in answer, answer
            assert all(v["__typename"] == "Recorded" for v in answer["data"].values()), answer
        deadline = time.monotonic() + 30
        while client.get("/ready").json()["projections"]["read_models"]["lag"]:
            assert time.monotonic() < deadline, "the read models did not catch up"
            time.sleep(0.02)
        events = fuzz.check(
            "{ events(first: 500) { edges { node { eventId } } } }", keys["auditor"]
        )
        fuzz.event_ids = [e["node"]["eventId"] for e in events["data"]["events"]["edges"]]
        # The log check is live: a deliberate error is logged with its traceback, under the
        # request's id, in the format log_of and final_exceptions read.
        _, request_id = fuzz.post("{ exposureGraph(hops: 9) { asOf } }", None)
        finals = [
            final
            for record in fuzz.log_of(request_id)
            if record.get("request_id") == request_id
            for final in final_exceptions(str(record.get("exception", "")).splitlines())
        ]
        assert len(finals) == 1 and finals[0].startswith(
            "graphql.error.graphql_error.GraphQLError: hops"
        ), "the server no longer logs errors as this test reads them:\n" + "".join(
            server.output[-20:]
        )
        yield fuzz
        print(
            f"\nfuzz: {fuzz.sent} requests ({fuzz.waited:.1f} s waiting for answers), "
            f"outcomes {fuzz.counts}, known bugs met {fuzz.known}"
        )


def _fuzz_settings(examples: int) -> settings:
    return settings(
        max_examples=examples,
        deadline=None,
        suppress_health_check=[
            HealthCheck.too_slow,
            HealthCheck.filter_too_much,
            HealthCheck.data_too_large,
        ],
    )


def _operations(
    generate: Any, root: graphql.GraphQLObjectType | None, **options: Any
) -> st.SearchStrategy[str]:
    """Operations on one root field each, mostly (they are cheaper to generate, and a bad
    value refuses only the field it is for), and now and then on several at once (DataLoaders
    shared between fields)."""
    assert root is not None
    return st.one_of(
        *(generate(SDL, fields=[name], **options) for name in root.fields),
        generate(SDL, **options),
    )


def test_generated_queries_never_fail_the_server(fuzzer: Fuzzer) -> None:
    before = fuzzer.sent
    query_type = graphql.build_schema(SDL).query_type
    strategy = _operations(queries, query_type, custom_scalars=_scalars(fuzzer.event_ids))

    @_fuzz_settings(QUERY_EXAMPLES)
    @given(query=strategy, role=st.sampled_from(sorted(fuzzer.keys)))
    def run(query: str, role: str) -> None:
        fuzzer.check(query, fuzzer.keys[role])

    run()
    assert fuzzer.sent - before >= QUERY_EXAMPLES


def _with_typename(document: graphql.DocumentNode) -> str:
    """The mutation, printed, with ``__typename`` asked of each result: which typed result came
    back is then in the answer whatever fragments were generated."""
    typename = graphql.FieldNode(name=graphql.NameNode(value="__typename"))
    operations = []
    for operation in document.definitions:
        assert isinstance(operation, graphql.OperationDefinitionNode)
        fields = []
        for node in operation.selection_set.selections:
            assert isinstance(node, graphql.FieldNode) and node.selection_set is not None
            selections = graphql.SelectionSetNode(
                selections=(*node.selection_set.selections, typename)
            )
            fields.append(
                graphql.FieldNode(
                    alias=node.alias,
                    name=node.name,
                    arguments=node.arguments,
                    directives=node.directives,
                    selection_set=selections,
                )
            )
        operations.append(
            graphql.OperationDefinitionNode(
                operation=operation.operation,
                name=operation.name,
                variable_definitions=operation.variable_definitions,
                directives=operation.directives,
                selection_set=graphql.SelectionSetNode(selections=tuple(fields)),
            )
        )
    return graphql.print_ast(graphql.DocumentNode(definitions=tuple(operations)))


RESULTS = {"Recorded", "ValidationError", "VersionConflict", "NotFound", "Forbidden"}


def test_generated_mutations_give_typed_results_or_clean_errors(fuzzer: Fuzzer) -> None:
    before = fuzzer.sent
    strategy = _operations(
        mutations,
        graphql.build_schema(SDL).mutation_type,
        custom_scalars=_scalars(fuzzer.event_ids, mutation=True),
        print_ast=_with_typename,
    )
    typed: dict[str, int] = {}

    @_fuzz_settings(MUTATION_EXAMPLES)
    @given(mutation=strategy)
    def run(mutation: str) -> None:
        body = fuzzer.check(mutation, fuzzer.keys["writer"])
        for result in (body.get("data") or {}).values():
            assert isinstance(result, dict) and result.get("__typename") in RESULTS, (
                f"\n--- operation ---\n{mutation}\n--- answer ---\n{body}"
            )
            typed[result["__typename"]] = typed.get(result["__typename"], 0) + 1

    run()
    print(f"\nmutation results: {typed}")
    assert fuzzer.sent - before >= MUTATION_EXAMPLES
    assert sum(typed.values()) >= MUTATION_EXAMPLES / 2, typed  # most got through validation
    # Whatever was recorded, the read models can project it: they catch up, without errors.
    deadline = time.monotonic() + 30
    while (lag := fuzzer.client.get("/ready").json()["projections"]["read_models"]["lag"]) > 0:
        assert time.monotonic() < deadline, f"the read models are stuck {lag} events behind"
        time.sleep(0.05)
    head = fuzzer.check("{ ledgerHead { position digest } }", fuzzer.keys["auditor"])
    assert head["data"]["ledgerHead"]["position"] >= len(SEED)


# -- the bugs this fuzzer found, fixed: each stays as a regression test ------------------------


def test_an_instant_out_of_range_in_utc_is_refused_cleanly(fuzzer: Fuzzer) -> None:
    answer = fuzzer.check(
        '{ deal(id: "x", asOf: "0001-01-01T00:00:00+05:30") { id } }', None, tolerate=False
    )
    assert "is out of range in UTC" in answer["errors"][0]["message"]


def test_a_nul_in_a_read_argument_is_bad_input_and_no_sql_leaks(fuzzer: Fuzzer) -> None:
    answer = fuzzer.check('{ entity(id: "\\u0000") { id } }', None, tolerate=False)
    (error,) = answer["errors"]
    assert error["extensions"]["code"] == "BAD_USER_INPUT"
    assert "NUL" in error["message"] and "SELECT" not in error["message"]


@pytest.mark.parametrize("interval", ["DAY", "MONTH"])
def test_a_series_at_the_end_of_time_has_its_one_point(fuzzer: Fuzzer, interval: str) -> None:
    answer = fuzzer.check(
        f"""{{ series(entityId: "openai", metric: VALUATION, from: "9999-12-31",
                      to: "9999-12-31T12:00:00Z", interval: {interval}) {{ asOf value }} }}""",
        None,
        tolerate=False,
    )
    assert [p["asOf"] for p in answer["data"]["series"]] == ["9999-12-31T00:00:00Z"]


def test_metadata_that_is_not_an_object_is_a_validation_error(fuzzer: Fuzzer) -> None:
    answer = fuzzer.check(
        """mutation { registerEntity(entityId: "meta", name: "M", kind: "company",
             effectiveAt: "2015-01-01", source: {title: "t"}, metadata: false) {
             __typename ... on ValidationError { field } } }""",
        fuzzer.keys["writer"],
        tolerate=False,
    )
    assert answer["data"]["registerEntity"] == {
        "__typename": "ValidationError",
        "field": "metadata",
    }


def test_a_decimal_with_a_huge_exponent_is_refused_before_it_is_written_out(
    fuzzer: Fuzzer,
) -> None:
    answer = fuzzer.check(
        """mutation { reportValuation(entityId: "openai", valuationUsd: "1e999999999",
             basis: "estimate", effectiveAt: "2025-01-01", source: {title: "t"}) { __typename } }""",
        fuzzer.keys["writer"],
        tolerate=False,
    )
    assert "is out of range" in answer["errors"][0]["message"]
