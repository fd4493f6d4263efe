// RFC 9162 (Certificate Transparency v2) Merkle tree math, parameterised by
// the suite's hash. Leaf hash = H(0x00 || leaf bytes); interior node =
// H(0x01 || left || right). Leaf index = seq - 1.
//
// Node addressing: (level, index) names the perfect subtree of 2^level leaves
// starting at leaf index * 2^level. Only perfect subtrees are ever stored; the
// hash of a ragged right edge is computed from them.
//
// Thread safety: free functions are safe; Frontier is a plain value.
#pragma once

#include <cstdint>
#include <functional>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/types/span.h"
#include "common/crypto/suite.h"

namespace tongban::merkle {

using crypto::Digest;
using crypto::Hasher;

Digest LeafHash(Hasher& hasher, absl::string_view leaf);
Digest NodeHash(Hasher& hasher, const Digest& left, const Digest& right);
// The hash of the empty tree: H() of nothing.
Digest EmptyRoot(Hasher& hasher);

struct NodeId {
  uint32_t level = 0;
  uint64_t index = 0;
  friend bool operator==(const NodeId&, const NodeId&) = default;
};

// Reads the hash of a stored perfect subtree. Storage implements it; proofs
// call it O(log n) times. Errors pass through unchanged.
using NodeReader = std::function<absl::StatusOr<Digest>(NodeId)>;

// The right edge of a tree: the roots of its perfect subtrees, largest first
// (one per set bit of size). Appending a leaf completes the subtrees that the
// new leaf closes; each completed subtree is reported so it can be stored.
class Frontier {
 public:
  Frontier() = default;
  // Rebuilds the frontier of a tree of `size` leaves from stored nodes.
  static absl::StatusOr<Frontier> Load(uint64_t size, const NodeReader& read);

  uint64_t size() const { return size_; }

  // Appends a leaf hash. `on_node` is called for the leaf itself (level 0)
  // and for every interior perfect subtree it completes, lowest first.
  void Append(Hasher& hasher, const Digest& leaf_hash,
              const std::function<void(NodeId, const Digest&)>& on_node);

  // RFC 9162 MTH of the whole tree.
  Digest Root(Hasher& hasher) const;

 private:
  uint64_t size_ = 0;
  std::vector<Digest> nodes_;  // roots of the perfect subtrees, largest first
};

// MTH of a list of leaf hashes (reference implementation, for tests and for
// verifying a contiguous range starting at leaf 0).
Digest RootOfLeaves(Hasher& hasher, absl::Span<const Digest> leaf_hashes);

// Hash of the subtree covering leaves [begin, end) of a tree, computed from
// stored perfect subtrees (end need not be a power-of-two boundary).
absl::StatusOr<Digest> RangeHash(Hasher& hasher, uint64_t begin, uint64_t end,
                                 const NodeReader& read);

// RFC 9162 section 2.1.3 inclusion proof of leaf `index` in a tree of `size`.
absl::StatusOr<std::vector<Digest>> InclusionProof(Hasher& hasher, uint64_t index, uint64_t size,
                                                   const NodeReader& read);
// Batch inclusion proof (a multiproof): one proof that each leaf of
// `indexes` is in the tree of `size`, for a set of leaves sent together.
// REQUIRES of `indexes` (else kInvalidArgument): at least one, strictly
// ascending, each below `size`.
//
// Its hashes are those of the maximal subtrees of the RFC 9162 tree (the
// nodes MTH(D[b:e]) of section 2.1.1, ragged right edges included) that hold
// none of the leaves, ordered left to right by the leaves they cover: exactly
// the siblings on the leaves' audit paths that cannot be computed from the
// leaves themselves. The verifier recomputes every subtree that holds a leaf
// bottom-up from the leaf hashes and these. For one leaf they are its
// section 2.1.3 audit path (in left-to-right order); for k leaves about
// k * log2(size / k) hashes instead of k * log2(size).
absl::StatusOr<std::vector<Digest>> BatchInclusionProof(Hasher& hasher,
                                                        absl::Span<const uint64_t> indexes,
                                                        uint64_t size, const NodeReader& read);
// How many hashes BatchInclusionProof gives for `indexes` and `size`
// (nothing is hashed or read), or kInvalidArgument as it would.
absl::StatusOr<uint64_t> BatchInclusionProofSize(absl::Span<const uint64_t> indexes, uint64_t size);

// RFC 9162 section 2.1.4 consistency proof from `old_size` to `new_size`.
absl::StatusOr<std::vector<Digest>> ConsistencyProof(Hasher& hasher, uint64_t old_size,
                                                     uint64_t new_size, const NodeReader& read);

// RFC 9162 section 2.1.3.2. OK or kInvalidArgument saying what did not match.
absl::Status VerifyInclusion(Hasher& hasher, uint64_t index, uint64_t size, const Digest& leaf_hash,
                             absl::Span<const Digest> proof, const Digest& root);
// Recomputes the root of the tree of `size` from `leaf_hashes` (one per
// index of `indexes`, same order) and a BatchInclusionProof. OK, or
// kInvalidArgument saying what did not match: invalid `indexes`, a count of
// leaf hashes or proof hashes other than they need, or another root.
absl::Status VerifyBatchInclusion(Hasher& hasher, absl::Span<const uint64_t> indexes, uint64_t size,
                                  absl::Span<const Digest> leaf_hashes,
                                  absl::Span<const Digest> proof, const Digest& root);
// RFC 9162 section 2.1.4.2.
absl::Status VerifyConsistency(Hasher& hasher, uint64_t old_size, uint64_t new_size,
                               const Digest& old_root, const Digest& new_root,
                               absl::Span<const Digest> proof);

}  // namespace tongban::merkle
