"""The proofs (SPEC section 5): the ledger's signed checkpoints, inclusion and consistency
proofs of its Merkle tree. Thin resolvers over ``ledger.queries``' proof functions; an
answer is a document ``ledger verify-proof`` checks as it is (docs/proofs.md)."""

from __future__ import annotations

import strawberry

from ledger import queries
from ledger.domain import proofs

from .context import run
from .types import Info


@strawberry.type(description="A signed checkpoint of the ledger's Merkle tree.")
class LedgerCheckpoint:
    tree_size: int = strawberry.field(description="How many events the tree holds.")
    root_hash: str = strawberry.field(description="The tree's root hash (hex).")
    note: str = strawberry.field(
        description="The checkpoint as a C2SP signed note (tlog-checkpoint), to keep."
    )
    public_key: str | None = strawberry.field(
        description="The ledger's current verifier key (C2SP vkey); trust it from a source "
        "of your own, not from this answer (null: the ledger has no signing key now)."
    )


@strawberry.type(description="RFC 9162 inclusion proof: the event is in the tree.")
class InclusionProof:
    leaf_index: int = strawberry.field(description="The event's position minus one.")
    tree_size: int
    leaf_hash: str = strawberry.field(description="SHA-256(0x00 ‖ the event's hash), hex.")
    hashes: list[str] = strawberry.field(description="The inclusion path, hex, RFC order.")

    @classmethod
    def of(cls, proof: proofs.InclusionProof) -> InclusionProof:
        return cls(
            leaf_index=proof.leaf_index,
            tree_size=proof.tree_size,
            leaf_hash=proof.leaf_hash.hex(),
            hashes=[h.hex() for h in proof.hashes],
        )


@strawberry.type(description="RFC 9162 consistency proof: the later tree extends the earlier.")
class ConsistencyProof:
    from_size: int
    to_size: int
    hashes: list[str] = strawberry.field(description="The consistency path, hex, RFC order.")

    @classmethod
    def of(cls, proof: proofs.ConsistencyProof) -> ConsistencyProof:
        return cls(
            from_size=proof.from_size,
            to_size=proof.to_size,
            hashes=[h.hex() for h in proof.hashes],
        )


@strawberry.type
class ProofQuery:
    @strawberry.field(
        description="The checkpoint issued at treeSize (null if none was), or the latest."
    )
    async def ledger_checkpoint(
        self, info: Info, tree_size: int | None = None
    ) -> LedgerCheckpoint | None:
        ledger = info.context.ledger
        issued = await run(queries.checkpoint, ledger.engine, tree_size)
        if issued is None:
            return None
        info.context.reflected.note(issued.tree_size)
        key = ledger.signing_key
        return LedgerCheckpoint(
            tree_size=issued.tree_size,
            root_hash=issued.root_hash.hex(),
            note=issued.note,
            public_key=key.verifier.encode() if key else None,
        )

    @strawberry.field(
        description="Proof that the event at position is in the tree of treeSize events "
        "(default: the latest checkpoint's size; at most it)."
    )
    async def inclusion_proof(
        self, info: Info, position: int, tree_size: int | None = None
    ) -> InclusionProof:
        proof = await run(queries.inclusion, info.context.ledger.engine, position, tree_size)
        info.context.reflected.note(proof.tree_size)
        return InclusionProof.of(proof)

    @strawberry.field(
        description="Proof that the tree of toSize events (default: the latest checkpoint's) "
        "extends the tree of fromSize; fromSize = toSize is the empty proof."
    )
    async def consistency_proof(
        self, info: Info, from_size: int, to_size: int | None = None
    ) -> ConsistencyProof:
        proof = await run(queries.consistency, info.context.ledger.engine, from_size, to_size)
        info.context.reflected.note(proof.to_size)
        return ConsistencyProof.of(proof)
