// RFC 9162 section 2.1 Merkle tree math over stored perfect subtrees.
//
// Every proof is built from the hashes of subtrees MTH(D[b:e]) where b is a
// multiple of the largest power of two not above e - b; such a range splits
// into at most log2(n) stored perfect subtrees, so RangeHash() reads O(log n)
// nodes and a proof reads O(log n) nodes in total (only one proof element can
// be a ragged right-edge subtree).
#include "common/merkle/tree.h"

#include <algorithm>
#include <bit>
#include <utility>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace tongban::merkle {
namespace {

struct Range {
  uint64_t begin;
  uint64_t end;
};

// REQUIRES: n >= 2. The k of RFC 9162: the largest power of two below n.
uint64_t SplitPoint(uint64_t n) { return uint64_t{1} << (std::bit_width(n - 1) - 1); }

absl::StatusOr<Digest> RangeHashImpl(Hasher& hasher, uint64_t begin, uint64_t end,
                                     const NodeReader& read) {
  const uint64_t n = end - begin;
  if (std::has_single_bit(n) && begin % n == 0) {
    return read(NodeId{static_cast<uint32_t>(std::countr_zero(n)), begin / n});
  }
  const uint64_t k = SplitPoint(n);
  TB_ASSIGN_OR_RETURN(const Digest left, RangeHashImpl(hasher, begin, begin + k, read));
  TB_ASSIGN_OR_RETURN(const Digest right, RangeHashImpl(hasher, begin + k, end, read));
  return NodeHash(hasher, left, right);
}

absl::StatusOr<std::vector<Digest>> HashRanges(Hasher& hasher, const std::vector<Range>& ranges,
                                               const NodeReader& read) {
  std::vector<Digest> out;
  out.reserve(ranges.size());
  for (const Range& r : ranges) {
    TB_ASSIGN_OR_RETURN(Digest d, RangeHashImpl(hasher, r.begin, r.end, read));
    out.push_back(d);
  }
  return out;
}

// Proof lengths, as in RFC 9162's verification algorithms: a path from leaf
// `index` to the root of a tree of `size` has `inner` levels below the point
// where it leaves the right edge and `border` levels on it.
struct PathShape {
  uint64_t inner;
  uint64_t border;
};
PathShape ShapeOf(uint64_t index, uint64_t size) {
  const uint64_t inner = std::bit_width(index ^ (size - 1));
  const uint64_t border = std::popcount(inner >= 64 ? 0 : index >> inner);
  return {inner, border};
}

// The set of leaves of a batch inclusion proof.
absl::Status CheckLeafSet(absl::Span<const uint64_t> indexes, uint64_t size) {
  if (indexes.empty()) return absl::InvalidArgumentError("batch inclusion proof of no leaves");
  for (size_t i = 1; i < indexes.size(); ++i) {
    if (indexes[i] <= indexes[i - 1]) {
      return absl::InvalidArgumentError(absl::StrCat("batch inclusion proof: leaf index ",
                                                     indexes[i], " follows leaf index ",
                                                     indexes[i - 1], "; indexes must ascend"));
    }
  }
  if (indexes.back() >= size) {
    return absl::InvalidArgumentError(absl::StrCat(
        "batch inclusion proof: leaf index ", indexes.back(), " is not below tree size ", size));
  }
  return absl::OkStatus();
}

// RFC 9162's recursive MTH(D[begin:end]), descending only into subtrees that
// hold a leaf of `indexes` (REQUIRES: ascending, within [begin, end); `first`
// is the position of indexes[0] in the whole set). Visits left to right:
// visit.Empty(b, e) is the value of a maximal subtree without leaves,
// visit.Leaf(i) of the i-th leaf of the set, visit.Node(left, right)
// combines two. Recursion depth is at most 64.
template <typename Visitor>
absl::StatusOr<typename Visitor::Value> WalkLeafPaths(uint64_t begin, uint64_t end,
                                                      absl::Span<const uint64_t> indexes,
                                                      size_t first, Visitor& visit) {
  if (indexes.empty()) return visit.Empty(begin, end);
  if (end - begin == 1) return visit.Leaf(first);
  const uint64_t k = SplitPoint(end - begin);
  const size_t left = static_cast<size_t>(
      std::lower_bound(indexes.begin(), indexes.end(), begin + k) - indexes.begin());
  TB_ASSIGN_OR_RETURN(typename Visitor::Value l,
                      WalkLeafPaths(begin, begin + k, indexes.first(left), first, visit));
  TB_ASSIGN_OR_RETURN(typename Visitor::Value r,
                      WalkLeafPaths(begin + k, end, indexes.subspan(left), first + left, visit));
  return visit.Node(l, r);
}

// Counts the hashes of a batch inclusion proof.
struct ProofCounter {
  using Value = uint64_t;
  absl::StatusOr<Value> Empty(uint64_t, uint64_t) { return 1; }
  absl::StatusOr<Value> Leaf(size_t) { return 0; }
  Value Node(Value l, Value r) { return l + r; }
};

}  // namespace

Digest LeafHash(Hasher& hasher, absl::string_view leaf) {
  const absl::string_view parts[] = {absl::string_view("\x00", 1), leaf};
  return hasher.Hash(parts);
}

Digest NodeHash(Hasher& hasher, const Digest& left, const Digest& right) {
  const absl::string_view parts[] = {absl::string_view("\x01", 1), crypto::AsStringView(left),
                                     crypto::AsStringView(right)};
  return hasher.Hash(parts);
}

Digest EmptyRoot(Hasher& hasher) { return hasher.Hash(absl::Span<const absl::string_view>()); }

absl::StatusOr<Frontier> Frontier::Load(uint64_t size, const NodeReader& read) {
  Frontier f;
  f.size_ = size;
  uint64_t start = 0;
  for (int level = 63; level >= 0; --level) {
    const uint64_t width = uint64_t{1} << level;
    if ((size & width) == 0) continue;
    TB_ASSIGN_OR_RETURN(Digest d, read(NodeId{static_cast<uint32_t>(level), start >> level}));
    f.nodes_.push_back(d);
    start += width;
  }
  return f;
}

void Frontier::Append(Hasher& hasher, const Digest& leaf_hash,
                      const std::function<void(NodeId, const Digest&)>& on_node) {
  if (on_node) on_node(NodeId{0, size_}, leaf_hash);
  Digest hash = leaf_hash;
  uint64_t index = size_;
  uint32_t level = 0;
  // Each trailing one bit of the old size is a subtree the new leaf closes.
  while ((index & 1) != 0) {
    hash = NodeHash(hasher, nodes_.back(), hash);
    nodes_.pop_back();
    index >>= 1;
    ++level;
    if (on_node) on_node(NodeId{level, index}, hash);
  }
  nodes_.push_back(hash);
  ++size_;
}

Digest Frontier::Root(Hasher& hasher) const {
  if (nodes_.empty()) return EmptyRoot(hasher);
  Digest root = nodes_.back();
  for (size_t i = nodes_.size() - 1; i-- > 0;) root = NodeHash(hasher, nodes_[i], root);
  return root;
}

Digest RootOfLeaves(Hasher& hasher, absl::Span<const Digest> leaf_hashes) {
  if (leaf_hashes.empty()) return EmptyRoot(hasher);
  if (leaf_hashes.size() == 1) return leaf_hashes[0];
  const size_t k = SplitPoint(leaf_hashes.size());
  return NodeHash(hasher, RootOfLeaves(hasher, leaf_hashes.subspan(0, k)),
                  RootOfLeaves(hasher, leaf_hashes.subspan(k)));
}

absl::StatusOr<Digest> RangeHash(Hasher& hasher, uint64_t begin, uint64_t end,
                                 const NodeReader& read) {
  if (begin > end) {
    return absl::InvalidArgumentError(
        absl::StrCat("range [", begin, ", ", end, ") ends before it begins"));
  }
  if (begin == end) return EmptyRoot(hasher);
  return RangeHashImpl(hasher, begin, end, read);
}

absl::StatusOr<std::vector<Digest>> InclusionProof(Hasher& hasher, uint64_t index, uint64_t size,
                                                   const NodeReader& read) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof: leaf index ", index, " is not below tree size ", size));
  }
  // RFC 9162 2.1.3.1 PATH(m, D[n]), walking down from the root; the proof
  // lists the siblings from the leaf up, so reverse at the end.
  std::vector<Range> siblings;
  uint64_t b = 0, e = size;
  while (e - b > 1) {
    const uint64_t k = SplitPoint(e - b);
    if (index < b + k) {
      siblings.push_back({b + k, e});
      e = b + k;
    } else {
      siblings.push_back({b, b + k});
      b += k;
    }
  }
  std::reverse(siblings.begin(), siblings.end());
  return HashRanges(hasher, siblings, read);
}

absl::StatusOr<uint64_t> BatchInclusionProofSize(absl::Span<const uint64_t> indexes,
                                                 uint64_t size) {
  TB_RETURN_IF_ERROR(CheckLeafSet(indexes, size));
  ProofCounter count;
  return WalkLeafPaths(0, size, indexes, 0, count);
}

absl::StatusOr<std::vector<Digest>> BatchInclusionProof(Hasher& hasher,
                                                        absl::Span<const uint64_t> indexes,
                                                        uint64_t size, const NodeReader& read) {
  TB_RETURN_IF_ERROR(CheckLeafSet(indexes, size));
  // Only the subtrees without leaves are read; nothing is combined.
  struct Prover {
    using Value = bool;
    Hasher& hasher;
    const NodeReader& read;
    std::vector<Digest> out;
    absl::StatusOr<Value> Empty(uint64_t b, uint64_t e) {
      TB_ASSIGN_OR_RETURN(Digest d, RangeHashImpl(hasher, b, e, read));
      out.push_back(d);
      return true;
    }
    absl::StatusOr<Value> Leaf(size_t) { return true; }
    Value Node(Value, Value) { return true; }
  } prover{hasher, read, {}};
  TB_RETURN_IF_ERROR(WalkLeafPaths(0, size, indexes, 0, prover).status());
  return std::move(prover.out);
}

absl::StatusOr<std::vector<Digest>> ConsistencyProof(Hasher& hasher, uint64_t old_size,
                                                     uint64_t new_size, const NodeReader& read) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: old size ", old_size, " is above new size ", new_size));
  }
  if (old_size == 0 || old_size == new_size) return std::vector<Digest>();
  // RFC 9162 2.1.4.1 SUBPROOF(m, D[n], b), walking down from the root.
  std::vector<Range> top_down;
  std::vector<Range> ranges;
  uint64_t m = old_size, b = 0, e = new_size;
  bool complete = true;  // b of SUBPROOF: D[0:m] is the old tree itself
  while (true) {
    const uint64_t n = e - b;
    if (m == n) {
      if (!complete) ranges.push_back({b, e});
      break;
    }
    const uint64_t k = SplitPoint(n);
    if (m <= k) {
      top_down.push_back({b + k, e});
      e = b + k;
    } else {
      top_down.push_back({b, b + k});
      m -= k;
      b += k;
      complete = false;
    }
  }
  ranges.insert(ranges.end(), top_down.rbegin(), top_down.rend());
  return HashRanges(hasher, ranges, read);
}

absl::Status VerifyInclusion(Hasher& hasher, uint64_t index, uint64_t size, const Digest& leaf_hash,
                             absl::Span<const Digest> proof, const Digest& root) {
  if (index >= size) {
    return absl::InvalidArgumentError(
        absl::StrCat("inclusion proof: leaf index ", index, " is not below tree size ", size));
  }
  const PathShape shape = ShapeOf(index, size);
  if (proof.size() != shape.inner + shape.border) {
    return absl::InvalidArgumentError(absl::StrCat("inclusion proof has ", proof.size(),
                                                   " hashes; leaf ", index, " of a tree of ", size,
                                                   " needs ", shape.inner + shape.border));
  }
  // RFC 9162 2.1.3.2.
  uint64_t fn = index, sn = size - 1;
  Digest r = leaf_hash;
  for (const Digest& p : proof) {
    if (sn == 0) return absl::InvalidArgumentError("inclusion proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      r = NodeHash(hasher, p, r);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      r = NodeHash(hasher, r, p);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return absl::InvalidArgumentError("inclusion proof is too short");
  if (r != root) {
    return absl::InvalidArgumentError(absl::StrCat(
        "inclusion proof of leaf ", index, " does not lead to the root of tree size ", size));
  }
  return absl::OkStatus();
}

absl::Status VerifyBatchInclusion(Hasher& hasher, absl::Span<const uint64_t> indexes, uint64_t size,
                                  absl::Span<const Digest> leaf_hashes,
                                  absl::Span<const Digest> proof, const Digest& root) {
  TB_ASSIGN_OR_RETURN(const uint64_t want, BatchInclusionProofSize(indexes, size));
  if (leaf_hashes.size() != indexes.size()) {
    return absl::InvalidArgumentError(absl::StrCat("batch inclusion proof: ", leaf_hashes.size(),
                                                   " leaf hashes for ", indexes.size(),
                                                   " leaf indexes"));
  }
  if (proof.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("batch inclusion proof has ", proof.size(),
                                                   " hashes; ", indexes.size(),
                                                   " leaves of a tree of ", size, " need ", want));
  }
  struct Verifier {
    using Value = Digest;
    Hasher& hasher;
    absl::Span<const Digest> leaves;
    absl::Span<const Digest> proof;
    size_t used = 0;
    absl::StatusOr<Value> Empty(uint64_t, uint64_t) {
      // Cannot run out: the length was checked against the same walk.
      if (used == proof.size()) return absl::InternalError("batch inclusion proof ran out");
      return proof[used++];
    }
    absl::StatusOr<Value> Leaf(size_t i) { return leaves[i]; }
    Value Node(const Value& l, const Value& r) { return NodeHash(hasher, l, r); }
  } verifier{hasher, leaf_hashes, proof};
  TB_ASSIGN_OR_RETURN(const Digest computed, WalkLeafPaths(0, size, indexes, 0, verifier));
  if (computed != root) {
    return absl::InvalidArgumentError(
        absl::StrCat("batch inclusion proof of ", indexes.size(), " leaves (", indexes.front(),
                     " to ", indexes.back(), ") does not lead to the root of tree size ", size));
  }
  return absl::OkStatus();
}

absl::Status VerifyConsistency(Hasher& hasher, uint64_t old_size, uint64_t new_size,
                               const Digest& old_root, const Digest& new_root,
                               absl::Span<const Digest> proof) {
  if (old_size > new_size) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof: old size ", old_size, " is above new size ", new_size));
  }
  if (old_size == new_size) {
    if (!proof.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("consistency proof between equal sizes must be empty, has ", proof.size()));
    }
    if (old_root != new_root) {
      return absl::InvalidArgumentError(
          absl::StrCat("two different roots for tree size ", old_size));
    }
    return absl::OkStatus();
  }
  if (old_size == 0) {
    // Every tree extends the empty tree, whose root is fixed.
    if (!proof.empty()) {
      return absl::InvalidArgumentError(
          absl::StrCat("consistency proof from size 0 must be empty, has ", proof.size()));
    }
    if (old_root != EmptyRoot(hasher)) {
      return absl::InvalidArgumentError("old root of size 0 is not the empty-tree hash");
    }
    return absl::OkStatus();
  }
  // Expected length: the path of leaf old_size - 1, minus the levels inside
  // the old tree's largest right-edge subtree, plus that subtree's hash
  // unless it is the whole old tree (a power of two).
  const PathShape shape = ShapeOf(old_size - 1, new_size);
  const uint64_t shift = std::countr_zero(old_size);
  const bool old_is_perfect = std::has_single_bit(old_size);
  const uint64_t want = (old_is_perfect ? 0 : 1) + (shape.inner - shift) + shape.border;
  if (proof.size() != want) {
    return absl::InvalidArgumentError(absl::StrCat("consistency proof from ", old_size, " to ",
                                                   new_size, " has ", proof.size(),
                                                   " hashes, needs ", want));
  }
  // RFC 9162 2.1.4.2.
  std::vector<Digest> path;
  path.reserve(proof.size() + 1);
  if (old_is_perfect) path.push_back(old_root);
  path.insert(path.end(), proof.begin(), proof.end());
  uint64_t fn = old_size - 1, sn = new_size - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  Digest fr = path[0], sr = path[0];
  for (size_t i = 1; i < path.size(); ++i) {
    const Digest& c = path[i];
    if (sn == 0) return absl::InvalidArgumentError("consistency proof is too long");
    if ((fn & 1) != 0 || fn == sn) {
      fr = NodeHash(hasher, c, fr);
      sr = NodeHash(hasher, c, sr);
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      sr = NodeHash(hasher, sr, c);
    }
    fn >>= 1;
    sn >>= 1;
  }
  if (sn != 0) return absl::InvalidArgumentError("consistency proof is too short");
  if (fr != old_root) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof does not lead to the old root (size ", old_size, ")"));
  }
  if (sr != new_root) {
    return absl::InvalidArgumentError(
        absl::StrCat("consistency proof does not lead to the new root (size ", new_size, ")"));
  }
  return absl::OkStatus();
}

}  // namespace tongban::merkle
