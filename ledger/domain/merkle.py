"""The Merkle tree of RFC 9162 section 2.1 over the ledger's events: hashes, proofs, checks.

Leaf *i* (0-based) is the event at position *i* + 1; its leaf data is the 32 bytes of that
event's ``hash`` (SPEC section 5). Leaf hash = SHA-256(0x00 ‖ data), node hash =
SHA-256(0x01 ‖ left ‖ right), and a tree of *n* > 1 leaves splits at *k*, the largest power of
two smaller than *n* (RFC 9162 2.1.1).

Every hash a proof holds is the hash of a subtree of that shape. Such a subtree is either
*complete* (2^level leaves starting at a multiple of 2^level: a :class:`Node`) or sits on the
tree's right edge, where it is the right fold of at most log2 n complete ones. A store
therefore only ever needs complete subtrees, which never change once written: appending a leaf
completes the leaf and the nodes above it that it closes (:meth:`CompactRange.append` returns
them), 2n nodes for n leaves. A proof is computed in three steps: a *plan* names the complete
subtrees it needs (O(log n) of them, from sizes alone), one batched lookup fetches their hashes
(:data:`SubtreeHashes`), and the plan folds them into the proof's hashes. Verification needs
none of that: it is the RFC's algorithm over the proof alone.

Pure: hashlib only, no I/O. The tree is one concept (its hashes, its proofs made and
checked, its growth), kept in one module though it passes 400 lines.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

from .errors import ProofRefused, ValidationError

HASH_SIZE = 32
EMPTY_ROOT = hashlib.sha256(b"").digest()  # MTH({}) = HASH() (RFC 9162 2.1.1)


def leaf_hash(data: bytes) -> bytes:
    """MTH of one entry: SHA-256(0x00 ‖ data)."""
    return hashlib.sha256(b"\x00" + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """SHA-256(0x01 ‖ left ‖ right)."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def event_leaf_data(event_hash: str) -> bytes:
    """The leaf data of an event: its ``hash`` (64 lowercase hex digits) as 32 bytes."""
    if len(event_hash) != 2 * HASH_SIZE or event_hash.strip("0123456789abcdef"):
        raise ValidationError("hash", f"expected 64 lowercase hex digits, got {event_hash!r}")
    return bytes.fromhex(event_hash)


def event_leaf_hash(event_hash: str) -> bytes:
    """The leaf hash of the event whose ``hash`` is ``event_hash``."""
    return leaf_hash(event_leaf_data(event_hash))


@dataclass(frozen=True, slots=True)
class Node:
    """A complete subtree: the 2^level leaves from ``index`` · 2^level (level 0 = a leaf)."""

    level: int
    index: int

    @property
    def start(self) -> int:
        return self.index << self.level

    @property
    def end(self) -> int:
        return (self.index + 1) << self.level


# The store's side of a proof: given the complete subtrees a plan needs (in one batch, so one
# query can answer them all), their hashes. A missing node is the store's error to raise.
SubtreeHashes = Callable[[Sequence[Node]], Mapping[Node, bytes]]


def _split(n: int) -> int:
    """k, the largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def subtree_nodes(start: int, end: int) -> tuple[Node, ...]:
    """The complete subtrees that make up the subtree of leaves [start, end), left to right.

    For a subtree of the tree's shape (``start`` a multiple of the smallest power of two at
    least ``end`` − ``start``) these are the set bits of its size, largest first, and its hash
    is their right fold (:func:`fold`)."""
    nodes = []
    while start < end:
        level = (end - start).bit_length() - 1
        if start:
            level = min(level, (start & -start).bit_length() - 1)
        nodes.append(Node(level, start >> level))
        start += 1 << level
    return tuple(nodes)


def fold(hashes: Sequence[bytes]) -> bytes:
    """The hash of a right-edge subtree from its complete subtrees' hashes, left to right."""
    if not hashes:
        return EMPTY_ROOT
    result = hashes[-1]
    for left in reversed(hashes[:-1]):
        result = node_hash(left, result)
    return result


@dataclass(frozen=True)
class ProofPlan:
    """The subtrees whose hashes make up a proof (or a root), in the proof's order; each is
    given as the complete subtrees it is made of (one, except on the tree's right edge)."""

    parts: tuple[tuple[Node, ...], ...]

    @property
    def nodes(self) -> tuple[Node, ...]:
        """Every complete subtree the plan needs, once each, in order of first use."""
        return tuple(dict.fromkeys(node for part in self.parts for node in part))

    def hashes(self, known: Mapping[Node, bytes]) -> list[bytes]:
        return [fold([known[node] for node in part]) for part in self.parts]

    def resolve(self, subtrees: SubtreeHashes) -> list[bytes]:
        """The proof's hashes, with one call of ``subtrees``."""
        return self.hashes(subtrees(self.nodes) if self.parts else {})


def _check_size(field: str, value: int, minimum: int) -> None:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValidationError(field, f"expected an integer, got {value!r}")
    if value < minimum:
        raise ValidationError(field, f"must be at least {minimum}, got {value}")


def inclusion_ranges(leaf_index: int, tree_size: int) -> list[tuple[int, int]]:
    """The leaf ranges of PATH(m, D[n]) (RFC 9162 2.1.3.1), the leaf's sibling first."""
    _check_size("treeSize", tree_size, 1)
    _check_size("leafIndex", leaf_index, 0)
    if leaf_index >= tree_size:
        raise ValidationError(
            "leafIndex", f"leaf {leaf_index} is not in a tree of {tree_size} leaves"
        )
    ranges = []
    lo, hi = 0, tree_size
    while hi - lo > 1:
        k = _split(hi - lo)
        if leaf_index < lo + k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            lo += k
    ranges.reverse()
    return ranges


def consistency_ranges(from_size: int, to_size: int) -> list[tuple[int, int]]:
    """The leaf ranges of PROOF(m, D[n]) = SUBPROOF(m, D[n], true) (RFC 9162 2.1.4.1), in the
    RFC's order; empty when the sizes are equal."""
    _check_size("fromSize", from_size, 1)
    _check_size("toSize", to_size, 1)
    if from_size > to_size:
        raise ValidationError(
            "fromSize", f"{from_size} is larger than toSize {to_size}: a tree only grows"
        )
    ranges = []
    m, lo, hi, whole = from_size, 0, to_size, True
    while True:
        if m == hi - lo:
            if not whole:
                ranges.append((lo, hi))
            break
        k = _split(hi - lo)
        if m <= k:
            ranges.append((lo + k, hi))
            hi = lo + k
        else:
            ranges.append((lo, lo + k))
            m -= k
            lo += k
            whole = False
    ranges.reverse()
    return ranges


def _plan(ranges: Iterable[tuple[int, int]]) -> ProofPlan:
    return ProofPlan(tuple(subtree_nodes(start, end) for start, end in ranges))


def inclusion_plan(leaf_index: int, tree_size: int) -> ProofPlan:
    return _plan(inclusion_ranges(leaf_index, tree_size))


def consistency_plan(from_size: int, to_size: int) -> ProofPlan:
    return _plan(consistency_ranges(from_size, to_size))


def root_plan(tree_size: int) -> ProofPlan:
    """The root as a plan of one part (no part for the empty tree, whose root is EMPTY_ROOT)."""
    _check_size("treeSize", tree_size, 0)
    return _plan([(0, tree_size)] if tree_size else [])


def inclusion_proof(leaf_index: int, tree_size: int, subtrees: SubtreeHashes) -> list[bytes]:
    return inclusion_plan(leaf_index, tree_size).resolve(subtrees)


def consistency_proof(from_size: int, to_size: int, subtrees: SubtreeHashes) -> list[bytes]:
    """The consistency proof from the tree of ``from_size`` leaves to that of ``to_size``;
    ``from_size`` = ``to_size`` is the empty proof, ``from_size`` 0 is refused."""
    return consistency_plan(from_size, to_size).resolve(subtrees)


def root_hash(tree_size: int, subtrees: SubtreeHashes) -> bytes:
    hashes = root_plan(tree_size).resolve(subtrees)
    return hashes[0] if hashes else EMPTY_ROOT


# -- verification (RFC 9162 2.1.3.2 and 2.1.4.2) -----------------------------------------


def _check_hashes(proof: Sequence[bytes], expected: int, what: str) -> None:
    if len(proof) != expected:
        raise ProofRefused("hashes", f"{what} needs {expected} hashes, the proof has {len(proof)}")
    for i, h in enumerate(proof):
        if len(h) != HASH_SIZE:
            raise ProofRefused(f"hashes[{i}]", f"is {len(h)} bytes, not {HASH_SIZE}")


def _check_hash(name: str, value: bytes) -> None:
    if len(value) != HASH_SIZE:
        raise ProofRefused(name, f"is {len(value)} bytes, not {HASH_SIZE}")


def root_from_inclusion_proof(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes]
) -> bytes:
    """The root that an inclusion proof of ``leaf`` (a leaf hash) leads to."""
    try:
        expected = len(inclusion_ranges(leaf_index, tree_size))
    except ValidationError as exc:
        raise ProofRefused(exc.field, exc.reason) from None
    _check_hash("leafHash", leaf)
    _check_hashes(proof, expected, f"leaf {leaf_index} of a tree of {tree_size}")
    fn, sn, r = leaf_index, tree_size - 1, leaf
    for p in proof:
        if sn == 0:  # unreachable with the length checked, kept as the RFC states it
            raise ProofRefused("hashes", "longer than the path to the root")
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofRefused("hashes", "shorter than the path to the root")
    return r


def verify_inclusion(
    leaf_index: int, tree_size: int, leaf: bytes, proof: Sequence[bytes], root: bytes
) -> None:
    """Raise :class:`ProofRefused` unless ``proof`` shows ``leaf`` at ``leaf_index`` in the
    tree of ``tree_size`` leaves whose root is ``root``."""
    _check_hash("rootHash", root)
    computed = root_from_inclusion_proof(leaf_index, tree_size, leaf, proof)
    if computed != root:
        raise ProofRefused(
            "rootHash",
            f"the proof of leaf {leaf_index} leads to root {computed.hex()}, "
            f"not to the tree's root {root.hex()}",
        )


def verify_consistency(
    from_size: int,
    to_size: int,
    proof: Sequence[bytes],
    from_root: bytes,
    to_root: bytes,
) -> None:
    """Raise :class:`ProofRefused` unless ``proof`` shows that the tree of ``to_size`` leaves
    with root ``to_root`` extends the tree of ``from_size`` leaves with root ``from_root``."""
    try:
        expected = len(consistency_ranges(from_size, to_size))
    except ValidationError as exc:
        raise ProofRefused(exc.field, exc.reason) from None
    _check_hash("fromRoot", from_root)
    _check_hash("toRoot", to_root)
    _check_hashes(proof, expected, f"consistency of {from_size} with {to_size}")
    if from_size == to_size:
        if from_root != to_root:
            raise ProofRefused(
                "toRoot",
                f"two trees of {to_size} leaves with different roots "
                f"{from_root.hex()} and {to_root.hex()}",
            )
        return
    path = list(proof)
    if from_size & (from_size - 1) == 0:  # an exact power of two: the old root is a node
        path.insert(0, from_root)
    fn, sn = from_size - 1, to_size - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:  # unreachable with the length checked, kept as the RFC states it
            raise ProofRefused("hashes", "longer than the path to the root")
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr)
            sr = node_hash(c, sr)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c)
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise ProofRefused("hashes", "shorter than the path to the root")
    if fr != from_root:
        raise ProofRefused(
            "fromRoot",
            f"the proof leads to root {fr.hex()} for the tree of {from_size} leaves, "
            f"not to its root {from_root.hex()}: the trees are not consistent",
        )
    if sr != to_root:
        raise ProofRefused(
            "toRoot",
            f"the proof leads to root {sr.hex()} for the tree of {to_size} leaves, "
            f"not to its root {to_root.hex()}: the trees are not consistent",
        )


# -- building the tree -------------------------------------------------------------------


class CompactRange:
    """The tree of leaves [0, size) held as its peaks: the hashes of the complete subtrees
    :func:`subtree_nodes` (0, size) names, largest first (one per set bit of ``size``).

    Appending a leaf is O(log n) and says which complete subtrees it completed, for a store
    that keeps them; :meth:`root` folds the peaks. A store resumes one from its table with
    :meth:`load`."""

    __slots__ = ("_peaks", "_size")

    def __init__(self, size: int = 0, peaks: Sequence[bytes] = ()) -> None:
        _check_size("size", size, 0)
        if len(peaks) != size.bit_count():
            raise ValidationError(
                "peaks", f"a tree of {size} leaves has {size.bit_count()} peaks, not {len(peaks)}"
            )
        self._size = size
        self._peaks = list(peaks)

    @classmethod
    def load(cls, size: int, subtrees: SubtreeHashes) -> CompactRange:
        nodes = subtree_nodes(0, size)
        known = subtrees(nodes) if nodes else {}
        return cls(size, [known[node] for node in nodes])

    @property
    def size(self) -> int:
        return self._size

    @property
    def peaks(self) -> tuple[bytes, ...]:
        return tuple(self._peaks)

    def append(self, leaf: bytes) -> list[tuple[Node, bytes]]:
        """Add the leaf hash ``leaf`` as leaf ``size``; returns the complete subtrees that now
        exist and did not before (the leaf itself first, then the nodes it closed, upward)."""
        if len(leaf) != HASH_SIZE:
            raise ValidationError("leaf", f"a leaf hash is {HASH_SIZE} bytes, not {len(leaf)}")
        index, level, h = self._size, 0, leaf
        completed = [(Node(0, index), h)]
        while index & 1:
            h = node_hash(self._peaks.pop(), h)
            index >>= 1
            level += 1
            completed.append((Node(level, index), h))
        self._peaks.append(h)
        self._size += 1
        return completed

    def root(self) -> bytes:
        return fold(self._peaks)


class MemoryTree:
    """Every complete subtree of a tree, in memory (``levels[level][index]``): the reference
    store for tests and for building proofs of a tree that fits in memory."""

    def __init__(self, leaves: Iterable[bytes] = ()) -> None:
        self.levels: list[list[bytes]] = [[]]
        self._range = CompactRange()
        for leaf in leaves:
            self.append(leaf)

    @property
    def size(self) -> int:
        return self._range.size

    def append(self, leaf: bytes) -> None:
        for node, h in self._range.append(leaf):
            if node.level == len(self.levels):
                self.levels.append([])
            self.levels[node.level].append(h)

    def subtrees(self, nodes: Sequence[Node]) -> dict[Node, bytes]:
        """A :data:`SubtreeHashes` over this tree."""
        return {node: self.levels[node.level][node.index] for node in nodes}

    def _size_at(self, field: str, tree_size: int | None) -> int:
        if tree_size is None:
            return self.size
        if isinstance(tree_size, int) and tree_size > self.size:
            raise ValidationError(field, f"{tree_size} is beyond the tree's {self.size} leaves")
        return tree_size

    def root(self, tree_size: int | None = None) -> bytes:
        if tree_size is None:
            return self._range.root()
        return root_hash(self._size_at("treeSize", tree_size), self.subtrees)

    def inclusion_proof(self, leaf_index: int, tree_size: int | None = None) -> list[bytes]:
        return inclusion_proof(leaf_index, self._size_at("treeSize", tree_size), self.subtrees)

    def consistency_proof(self, from_size: int, to_size: int | None = None) -> list[bytes]:
        return consistency_proof(from_size, self._size_at("toSize", to_size), self.subtrees)
