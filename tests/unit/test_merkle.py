"""The RFC 9162 tree: known answers, an independent implementation, every tampering refused."""

from __future__ import annotations

import hashlib
from functools import cache

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pymerkle import InmemoryTree

from ledger.domain.errors import ProofRefused, ValidationError
from ledger.domain.merkle import (
    EMPTY_ROOT,
    CompactRange,
    MemoryTree,
    Node,
    consistency_plan,
    event_leaf_data,
    event_leaf_hash,
    inclusion_plan,
    leaf_hash,
    node_hash,
    root_from_inclusion_proof,
    subtree_nodes,
    verify_consistency,
    verify_inclusion,
)

# -- known answers ------------------------------------------------------------------------
# The RFC 6962 / RFC 9162 test vectors of transparency-dev/merkle, proof/verify_test.go
# (commit 02194e9afb6c1d95b5381350007963aa70fff472): eight leaves of arbitrary data, the roots
# of the trees of 1..8 of them, and inclusion and consistency proofs among them. (The hashing
# and the tree shape are those of RFC 6962 section 2.1, unchanged in RFC 9162 section 2.1.)

LEAVES = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
# (leaf number counting from 1, tree size, proof), as in inclusionProofs there.
INCLUSION = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (3, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (2, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]  # fmt: skip
# (size1, size2, proof), as in consistencyProofs there.
CONSISTENCY = [
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
    (6, 7, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
]  # fmt: skip


@pytest.fixture(scope="module")
def vectors() -> MemoryTree:
    return MemoryTree(leaf_hash(data) for data in LEAVES)


def test_the_empty_tree_hashes_to_sha256_of_nothing(vectors: MemoryTree) -> None:
    # RFC 9162 2.1.1: MTH({}) = HASH(); the value as in sha256EmptyTreeHash of verify_test.go.
    assert EMPTY_ROOT.hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    assert vectors.root(0) == EMPTY_ROOT == CompactRange().root()


@pytest.mark.parametrize("size", range(1, 9))
def test_the_roots_of_the_known_answer_trees(vectors: MemoryTree, size: int) -> None:
    assert vectors.root(size) == ROOTS[size - 1]
    assert MemoryTree(leaf_hash(d) for d in LEAVES[:size]).root() == ROOTS[size - 1]


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION)
def test_the_known_inclusion_proofs(vectors: MemoryTree, leaf: int, size: int, proof) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert vectors.inclusion_proof(leaf - 1, size) == expected
    verify_inclusion(leaf - 1, size, leaf_hash(LEAVES[leaf - 1]), expected, ROOTS[size - 1])


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY)
def test_the_known_consistency_proofs(vectors: MemoryTree, size1: int, size2: int, proof) -> None:
    expected = [bytes.fromhex(h) for h in proof]
    assert vectors.consistency_proof(size1, size2) == expected
    verify_consistency(size1, size2, expected, ROOTS[size1 - 1], ROOTS[size2 - 1])


SOME_HASH = bytes.fromhex("abacaba000000000000000000000000000000000000000000060061e00123456")


@pytest.mark.parametrize(("leaf", "size", "proof"), INCLUSION[1:])
def test_every_corruption_of_a_known_inclusion_proof_is_refused(
    leaf: int, size: int, proof: list[str]
) -> None:
    """The probes of corruptInclusionProof in verify_test.go, each refused by name."""
    hashes = [bytes.fromhex(h) for h in proof]
    index, root, leaf_h = leaf - 1, ROOTS[size - 1], leaf_hash(LEAVES[leaf - 1])
    probes = [
        (index - 1, size, root, leaf_h, hashes),
        (index + 1, size, root, leaf_h, hashes),
        (index ^ 2, size, root, leaf_h, hashes),
        (index, size * 2, root, leaf_h, hashes),
        (index, size // 2, root, leaf_h, hashes),
        (index, size, root, b"WrongLeaf", hashes),
        (index, size, EMPTY_ROOT, leaf_h, hashes),
        (index, size, SOME_HASH, leaf_h, hashes),
        (index, size, root, leaf_h, [*hashes, b""]),
        (index, size, root, leaf_h, [*hashes, root]),
        (index, size, root, leaf_h, [b"", *hashes]),
        (index, size, root, leaf_h, [root, *hashes]),
        (index, size, root, leaf_h, hashes[:-1]),
        (index, size, root, leaf_h, [hashes[0], SOME_HASH, *hashes[1:]]),
    ]
    for i in range(len(hashes)):
        flipped = list(hashes)
        flipped[i] = bytes([flipped[i][0] ^ 8]) + flipped[i][1:]
        probes.append((index, size, root, leaf_h, flipped))
    for i_, n_, root_, leaf_, proof_ in probes:
        with pytest.raises(ProofRefused) as refused:
            verify_inclusion(i_, n_, leaf_, proof_, root_)
        assert refused.value.what  # names what failed


@pytest.mark.parametrize(("size1", "size2", "proof"), CONSISTENCY[1:])
def test_every_corruption_of_a_known_consistency_proof_is_refused(
    size1: int, size2: int, proof: list[str]
) -> None:
    """The probes of corruptConsistencyProof in verify_test.go, each refused by name."""
    hashes = [bytes.fromhex(h) for h in proof]
    root1, root2 = ROOTS[size1 - 1], ROOTS[size2 - 1]
    probes = [
        (size1 - 1, size2, root1, root2, hashes),
        (size1 + 1, size2, root1, root2, hashes),
        (size1 ^ 2, size2, root1, root2, hashes),
        (size1, size2 * 2, root1, root2, hashes),
        (size1, size2 // 2, root1, root2, hashes),
        (size1, size2, b"WrongRoot", root2, hashes),
        (size1, size2, root1, b"WrongRoot", hashes),
        (size1, size2, root2, root1, hashes),
        (size1, size2, root1, root2, []),
        (size1, size2, root1, root2, [*hashes, b""]),
        (size1, size2, root1, root2, [*hashes, root1]),
        (size1, size2, root1, root2, [*hashes, root2]),
        (size1, size2, root1, root2, [b"", *hashes]),
        (size1, size2, root1, root2, [root1, *hashes]),
        (size1, size2, root1, root2, [root2, *hashes]),
        (size1, size2, root1, root2, [hashes[0], *hashes]),
        (size1, size2, root1, root2, hashes[:-1]),
    ]
    for i in range(len(hashes)):
        flipped = list(hashes)
        flipped[i] = bytes([flipped[i][0] ^ 16]) + flipped[i][1:]
        probes.append((size1, size2, root1, root2, flipped))
    for s1, s2, r1, r2, p in probes:
        with pytest.raises(ProofRefused) as refused:
            verify_consistency(s1, s2, p, r1, r2)
        assert refused.value.what


def test_equal_sizes_are_the_empty_proof_and_need_equal_roots(vectors: MemoryTree) -> None:
    for size in range(1, 9):
        assert vectors.consistency_proof(size, size) == []
        verify_consistency(size, size, [], ROOTS[size - 1], ROOTS[size - 1])
    with pytest.raises(ProofRefused, match="different roots") as refused:
        verify_consistency(3, 3, [], ROOTS[2], ROOTS[3])
    assert refused.value.what == "toRoot"
    with pytest.raises(ProofRefused) as refused:
        verify_consistency(3, 3, [ROOTS[2]], ROOTS[2], ROOTS[2])
    assert refused.value.what == "hashes"


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda t: t.consistency_proof(0, 4), "fromSize"),
        (lambda t: t.consistency_proof(5, 4), "fromSize"),
        (lambda t: t.consistency_proof(1, 9), "toSize"),
        (lambda t: t.inclusion_proof(4, 4), "leafIndex"),
        (lambda t: t.inclusion_proof(-1, 4), "leafIndex"),
        (lambda t: t.inclusion_proof(0, 0), "treeSize"),
        (lambda t: t.inclusion_proof(0, 9), "treeSize"),
    ],
)
def test_proofs_asked_of_sizes_that_do_not_exist_are_refused_naming_the_field(
    vectors: MemoryTree, call, field: str
) -> None:
    with pytest.raises(ValidationError) as refused:
        call(vectors)
    assert refused.value.field == field


def test_verifying_against_impossible_sizes_is_refused_naming_them() -> None:
    for args, what in [
        ((0, 0, leaf_hash(b""), [], EMPTY_ROOT), "treeSize"),
        ((3, 3, leaf_hash(b""), [], EMPTY_ROOT), "leafIndex"),
    ]:
        with pytest.raises(ProofRefused) as refused:
            verify_inclusion(*args)
        assert refused.value.what == what
    with pytest.raises(ProofRefused) as refused:
        verify_consistency(0, 3, [], EMPTY_ROOT, EMPTY_ROOT)
    assert refused.value.what == "fromSize"


def test_the_leaf_data_of_an_event_is_its_hash_as_32_bytes() -> None:
    event_hash = hashlib.sha256(b"an event").hexdigest()
    assert event_leaf_data(event_hash) == bytes.fromhex(event_hash)
    assert (
        event_leaf_hash(event_hash) == hashlib.sha256(b"\x00" + bytes.fromhex(event_hash)).digest()
    )
    for bad in ["", event_hash[:-1], event_hash.upper(), event_hash[:-1] + "g"]:
        with pytest.raises(ValidationError) as refused:
            event_leaf_data(bad)
        assert refused.value.field == "hash"


# -- against an independent implementation ------------------------------------------------
# pymerkle (a test dependency) hashes as RFC 9162 does (leaf 0x00, node 0x01, the same split):
# its roots at every size are the oracle. The proofs are compared hash by hash with the RFC's
# recursive definitions (PATH and SUBPROOF of 2.1.3.1 and 2.1.4.1), written out below.

MAX = 10_000
DATA = [hashlib.sha256(f"event {i}".encode()).digest() for i in range(MAX)]  # event hashes
LEAF = [leaf_hash(d) for d in DATA]


@pytest.fixture(scope="module")
def tree() -> MemoryTree:
    return MemoryTree(LEAF)


@pytest.fixture(scope="module")
def oracle() -> InmemoryTree:
    independent = InmemoryTree(algorithm="sha256")
    for data in DATA:
        independent.append_entry(data)
    return independent


def _k(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


@cache
def mth(start: int, end: int) -> bytes:
    """MTH(D[start:end]) by the RFC's recursive definition."""
    n = end - start
    if n == 1:
        return LEAF[start]
    k = _k(n)
    return node_hash(mth(start, start + k), mth(start + k, end))


def path(m: int, start: int, end: int) -> list[bytes]:
    n = end - start
    if n == 1:
        return []
    k = _k(n)
    if m < k:
        return [*path(m, start, start + k), mth(start + k, end)]
    return [*path(m - k, start + k, end), mth(start, start + k)]


def subproof(m: int, start: int, end: int, whole: bool) -> list[bytes]:
    n = end - start
    if m == n:
        return [] if whole else [mth(start, end)]
    k = _k(n)
    if m <= k:
        return [*subproof(m, start, start + k, whole), mth(start + k, end)]
    return [*subproof(m - k, start + k, end, False), mth(start, start + k)]


sizes = st.integers(min_value=1, max_value=MAX)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_inclusion_proofs_of_random_sizes_agree_with_the_rfc_and_pymerkle(
    tree: MemoryTree, oracle: InmemoryTree, data: st.DataObject
) -> None:
    size = data.draw(sizes, label="treeSize")
    index = data.draw(st.integers(min_value=0, max_value=size - 1), label="leafIndex")
    root = oracle.get_root(size)
    assert tree.root(size) == root == mth(0, size)
    proof = tree.inclusion_proof(index, size)
    assert proof == path(index, 0, size)
    assert len(inclusion_plan(index, size).nodes) <= 2 * size.bit_length()  # O(log n) lookups
    verify_inclusion(index, size, LEAF[index], proof, root)
    if size > 1:
        other = data.draw(st.integers(min_value=0, max_value=size - 1).filter(lambda i: i != index))
        with pytest.raises(ProofRefused):
            verify_inclusion(other, size, LEAF[index], proof, root)


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_consistency_proofs_of_random_sizes_agree_with_the_rfc_and_pymerkle(
    tree: MemoryTree, oracle: InmemoryTree, data: st.DataObject
) -> None:
    to_size = data.draw(sizes, label="toSize")
    from_size = data.draw(st.integers(min_value=1, max_value=to_size), label="fromSize")
    from_root, to_root = oracle.get_root(from_size), oracle.get_root(to_size)
    proof = tree.consistency_proof(from_size, to_size)
    assert proof == subproof(from_size, 0, to_size, True)
    assert len(consistency_plan(from_size, to_size).nodes) <= 2 * to_size.bit_length()
    verify_consistency(from_size, to_size, proof, from_root, to_root)
    if from_size < to_size:
        with pytest.raises(ProofRefused):
            verify_consistency(from_size, to_size, proof, to_root, from_root)


@settings(max_examples=50, deadline=None)
@given(st.data())
def test_flipping_any_byte_of_a_proof_or_root_is_refused(
    tree: MemoryTree, data: st.DataObject
) -> None:
    size = data.draw(st.integers(min_value=2, max_value=MAX))
    index = data.draw(st.integers(min_value=0, max_value=size - 1))
    proof, root = tree.inclusion_proof(index, size), tree.root(size)
    at = data.draw(st.integers(min_value=0, max_value=32 * (len(proof) + 1) - 1), label="byte")
    bit = data.draw(st.integers(min_value=0, max_value=7), label="bit")
    hashes = [*proof, root]
    which, offset = divmod(at, 32)
    hashes[which] = (
        hashes[which][:offset]
        + bytes([hashes[which][offset] ^ (1 << bit)])
        + hashes[which][offset + 1 :]
    )
    with pytest.raises(ProofRefused) as refused:
        verify_inclusion(index, size, LEAF[index], hashes[:-1], hashes[-1])
    assert refused.value.what == "rootHash"


@settings(max_examples=100, deadline=None)
@given(st.data())
def test_a_proof_for_another_tree_size_is_refused(tree: MemoryTree, data: st.DataObject) -> None:
    size = data.draw(st.integers(min_value=2, max_value=MAX))
    other = data.draw(st.integers(min_value=1, max_value=MAX).filter(lambda n: n != size))
    index = data.draw(st.integers(min_value=0, max_value=min(size, other) - 1))
    with pytest.raises(ProofRefused):
        verify_inclusion(
            index, other, LEAF[index], tree.inclusion_proof(index, size), tree.root(other)
        )
    # (Shown against the root of its own size but claimed for another, a proof may still fold
    # to that root: the path's shape can be the same for both sizes, as for leaf 0 of 513 and
    # 514 leaves. The size is bound by the signed checkpoint, which the proof document's check
    # compares first: tests/unit/test_checkpoint.py.)


# -- building the tree incrementally ------------------------------------------------------


def test_each_append_returns_the_complete_subtrees_it_completed(tree: MemoryTree) -> None:
    compact = CompactRange()
    seen: dict[Node, bytes] = {}
    for i in range(1, 300):
        completed = compact.append(LEAF[i - 1])
        assert completed[0] == (Node(0, i - 1), LEAF[i - 1])
        assert len(completed) == 1 + ((i ^ (i - 1)).bit_length() - 1)  # the carries of i - 1 + 1
        for node, h in completed:
            assert node not in seen and h == mth(node.start, node.end)
            seen[node] = h
        assert compact.size == i and compact.root() == mth(0, i)
        assert compact.peaks == tuple(seen[n] for n in subtree_nodes(0, i))
    assert len(seen) == 2 * 299 - (299).bit_count()


@settings(max_examples=50, deadline=None)
@given(
    size=st.integers(min_value=0, max_value=MAX - 20), more=st.integers(min_value=1, max_value=20)
)
def test_a_compact_range_resumes_from_a_store_of_subtrees(
    tree: MemoryTree, size: int, more: int
) -> None:
    fetched: list[int] = []

    def subtrees(nodes):
        fetched.append(len(nodes))
        return tree.subtrees(nodes)

    resumed = CompactRange.load(size, subtrees)
    assert fetched == ([size.bit_count()] if size else [])  # one batch of popcount(n) nodes
    assert resumed.root() == tree.root(size)
    for i in range(size, size + more):
        resumed.append(LEAF[i])
    assert resumed.root() == tree.root(size + more)


def test_a_proof_is_one_batch_of_subtree_lookups(tree: MemoryTree) -> None:
    batches: list[list[Node]] = []

    def subtrees(nodes):
        batches.append(list(nodes))
        return tree.subtrees(nodes)

    from ledger.domain.merkle import consistency_proof, inclusion_proof

    assert inclusion_proof(1234, 9999, subtrees) == path(1234, 0, 9999)
    assert consistency_proof(777, 9999, subtrees) == subproof(777, 0, 9999, True)
    assert len(batches) == 2
    assert all(len(set(batch)) == len(batch) for batch in batches)


def test_root_from_an_inclusion_proof_names_a_wrong_hash_length() -> None:
    with pytest.raises(ProofRefused) as refused:
        root_from_inclusion_proof(0, 2, LEAF[0], [b"short"])
    assert refused.value.what == "hashes[0]"
    with pytest.raises(ProofRefused) as refused:
        root_from_inclusion_proof(0, 2, b"short", [LEAF[1]])
    assert refused.value.what == "leafHash"
