"""The schema (spec section 4) assembled from its parts, with the limits every request obeys.

Queries, mutations and subscriptions live in their own modules; this one only composes them
with the extensions: the limits, the parse and validation caches, the NUL refusal, the one
error table (``errors.LedgerErrors``) and the end of each request's snapshot
(``context.OneSnapshot``). ``python -m api.graphql`` writes the SDL file.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from pathlib import Path
from typing import Any

import strawberry
from graphql import NoSchemaIntrospectionCustomRule
from strawberry.extensions import (
    AddValidationRules,
    MaxAliasesLimiter,
    MaxTokensLimiter,
    ParserCache,
    QueryDepthLimiter,
    ValidationCache,
)
from strawberry.schema.config import StrawberryConfig
from strawberry.tools import merge_types

from .context import OneSnapshot
from .errors import LedgerErrors, RefuseNul
from .mutations import Mutation
from .proofs import ProofQuery
from .queries import Query
from .scalars import DateTime, DecimalScalar
from .subscriptions import Subscription

SDL_PATH = Path(__file__).resolve().parents[1] / "schema.graphql"

# Limits on what one request may ask, so no query can hold the server (issue: protection).
MAX_DEPTH = 10
MAX_ALIASES = 20
MAX_TOKENS = 4000


def build_schema(*, introspection: bool = True) -> strawberry.Schema:
    """The schema; production turns introspection off (clients there know the schema).

    The limits' validation rules are built once, not per request: the same rule classes on
    every request let ``ValidationCache`` answer a repeated query without validating it again
    (with ``ParserCache``, that halves the CPU of a small query; see docs/performance.md).
    """
    rules = [
        *QueryDepthLimiter(max_depth=MAX_DEPTH).validation_rules,
        *MaxAliasesLimiter(max_alias_count=MAX_ALIASES).validation_rules,
    ]
    if not introspection:
        rules.append(NoSchemaIntrospectionCustomRule)
    extensions: list[Any] = [
        lambda: AddValidationRules(rules),
        lambda: MaxTokensLimiter(max_token_count=MAX_TOKENS),
        lambda: ParserCache(maxsize=1024),
        lambda: ValidationCache(maxsize=1024),
        RefuseNul,
        LedgerErrors,
        OneSnapshot,
    ]
    return strawberry.Schema(
        query=merge_types("Query", (Query, ProofQuery)),
        mutation=Mutation,
        subscription=Subscription,
        config=StrawberryConfig(scalar_map={dt.datetime: DateTime, Decimal: DecimalScalar}),
        extensions=extensions,
    )


def export_sdl() -> str:
    return build_schema().as_str() + "\n"
