// Merkle tree math: the published RFC 6962 / Certificate Transparency test
// vectors, seeded property tests under both suite hashes, and read counts.
#include "common/merkle/tree.h"

#include <algorithm>
#include <bit>
#include <map>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/hex.h"
#include "gtest/gtest.h"
#include "tests/testutil/temp_dir.h"
#include "tests/testutil/wait.h"

namespace tongban::merkle {
namespace {

using crypto::GetSuite;
using crypto::SuiteId;

Digest D(absl::string_view hex) {
  absl::StatusOr<std::string> bytes = HexDecode(hex);
  EXPECT_TRUE(bytes.ok() && bytes->size() == 32) << hex;
  Digest d{};
  if (bytes.ok() && bytes->size() == 32) std::copy(bytes->begin(), bytes->end(), d.begin());
  return d;
}

std::string Hex(const Digest& d) { return HexEncode(crypto::AsStringView(d)); }

// A store of perfect subtrees, as storage keeps them, that counts reads and
// fails any read of a node that was never stored.
class NodeStore {
 public:
  explicit NodeStore(Hasher& hasher) : hasher_(hasher) {}

  void Append(const Digest& leaf_hash) {
    frontier_.Append(hasher_, leaf_hash,
                     [this](NodeId id, const Digest& d) { nodes_[Key(id)] = d; });
  }

  NodeReader Reader() {
    return [this](NodeId id) -> absl::StatusOr<Digest> {
      ++reads_;
      auto it = nodes_.find(Key(id));
      if (it == nodes_.end()) {
        return absl::NotFoundError(absl::StrCat("node ", id.level, "/", id.index));
      }
      return it->second;
    };
  }

  const Frontier& frontier() const { return frontier_; }
  int reads() const { return reads_; }
  void ResetReads() { reads_ = 0; }
  bool Has(NodeId id) const { return nodes_.count(Key(id)) > 0; }
  const Digest& Get(NodeId id) const { return nodes_.at(Key(id)); }

 private:
  static uint64_t Key(NodeId id) { return (uint64_t{id.level} << 56) | id.index; }

  Hasher& hasher_;
  Frontier frontier_;
  std::unordered_map<uint64_t, Digest> nodes_;
  int reads_ = 0;
};

// ---------------------------------------------------------------- vectors
//
// RFC 6962 test vectors (SHA-256), from google/certificate-transparency's
// merkle tree tests as kept in transparency-dev/merkle:
// testonly/constants.go (leaves, node hashes, roots) and
// proof/verify_test.go (inclusion and consistency proofs).

const std::vector<std::string>& Leaves() {
  static const auto* leaves = new std::vector<std::string>{"",
                                                           "00",
                                                           "10",
                                                           "2021",
                                                           "3031",
                                                           "40414243",
                                                           "5051525354555657",
                                                           "606162636465666768696a6b6c6d6e6f"};
  return *leaves;
}

const char* const kNodeHashes[4][8] = {
    {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
     "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
     "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7",
     "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7",
     "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
     "4271a26be0d8a84f0bd54c8c302e7cb3a3b5d1fa6780a40bcce2873477dab658",
     "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
     "46f6ffadd3d06a09ff3c5860d2755c8b9819db7df44251788c7d8e3180de8eb1"},
    {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
     "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
     "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
     "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"},
    {"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
     "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"},
    {"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328"},
};

const char* const kRoots[9] = {
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

struct InclusionVector {
  uint64_t leaf;  // 1-based, as in the source
  uint64_t size;
  std::vector<const char*> proof;
};
const InclusionVector kInclusionVectors[] = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {3, 3, {"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"}},
    {2,
     5,
     {"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
};

struct ConsistencyVector {
  uint64_t old_size;
  uint64_t new_size;
  std::vector<const char*> proof;
};
const ConsistencyVector kConsistencyVectors[] = {
    {1, 1, {}},
    {1,
     8,
     {"96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"}},
    {6,
     8,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
    {2,
     5,
     {"5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"}},
    {6,
     7,
     {"0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
      "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"}},
};

std::vector<Digest> ToDigests(const std::vector<const char*>& hexes) {
  std::vector<Digest> out;
  for (const char* h : hexes) out.push_back(D(h));
  return out;
}

class Rfc6962VectorTest : public testing::Test {
 protected:
  void SetUp() override {
    for (const std::string& hex : Leaves()) {
      TB_ASSERT_OK_AND_ASSIGN(std::string leaf, HexDecode(hex));
      store_.Append(LeafHash(*hasher_, leaf));
    }
  }

  std::unique_ptr<Hasher> hasher_ = GetSuite(SuiteId::kIntl).NewHasher();
  NodeStore store_{*hasher_};
};

TEST_F(Rfc6962VectorTest, LeafAndNodeHashes) {
  for (uint32_t level = 0; level < 4; ++level) {
    for (uint64_t index = 0; index < (8u >> level); ++index) {
      ASSERT_TRUE(store_.Has({level, index})) << level << "/" << index;
      EXPECT_EQ(Hex(store_.Get({level, index})), kNodeHashes[level][index])
          << level << "/" << index;
    }
  }
  // Only perfect subtrees are reported: 8 + 4 + 2 + 1 nodes.
  EXPECT_FALSE(store_.Has({0, 8}));
  EXPECT_FALSE(store_.Has({4, 0}));
}

TEST_F(Rfc6962VectorTest, RootsOfSizesZeroToEight) {
  std::vector<Digest> leaf_hashes;
  Frontier frontier;
  for (uint64_t size = 0; size <= 8; ++size) {
    SCOPED_TRACE(size);
    EXPECT_EQ(Hex(frontier.Root(*hasher_)), kRoots[size]);
    EXPECT_EQ(Hex(RootOfLeaves(*hasher_, leaf_hashes)), kRoots[size]);
    TB_ASSERT_OK_AND_ASSIGN(Digest range, RangeHash(*hasher_, 0, size, store_.Reader()));
    EXPECT_EQ(Hex(range), kRoots[size]);
    TB_ASSERT_OK_AND_ASSIGN(Frontier loaded, Frontier::Load(size, store_.Reader()));
    EXPECT_EQ(loaded.size(), size);
    EXPECT_EQ(Hex(loaded.Root(*hasher_)), kRoots[size]);
    if (size < 8) {
      const Digest leaf = store_.Get({0, size});
      leaf_hashes.push_back(leaf);
      frontier.Append(*hasher_, leaf, nullptr);
    }
  }
  EXPECT_EQ(Hex(EmptyRoot(*hasher_)), kRoots[0]);
}

// The corruptions transparency-dev/merkle's proof/verify_test.go applies to
// the published inclusion proofs; each must fail.
TEST_F(Rfc6962VectorTest, InclusionProofs) {
  const Digest some_hash = D("abacaba000000000000000000000000000000000000000000060061e00123456");
  for (const InclusionVector& v : kInclusionVectors) {
    SCOPED_TRACE(absl::StrCat("leaf ", v.leaf, " size ", v.size));
    const uint64_t index = v.leaf - 1;
    const std::vector<Digest> want = ToDigests(v.proof);
    TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> proof,
                            InclusionProof(*hasher_, index, v.size, store_.Reader()));
    EXPECT_EQ(proof, want);
    const Digest root = D(kRoots[v.size]);
    const Digest leaf = store_.Get({0, index});
    TB_EXPECT_OK(VerifyInclusion(*hasher_, index, v.size, leaf, want, root));

    auto expect_fail = [&](uint64_t i, uint64_t s, const Digest& l, const std::vector<Digest>& p,
                           const Digest& r, const char* what) {
      const absl::Status st = VerifyInclusion(*hasher_, i, s, l, p, r);
      EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << what << ": " << st;
    };
    expect_fail(index - 1, v.size, leaf, want, root, "index - 1");
    expect_fail(index + 1, v.size, leaf, want, root, "index + 1");
    expect_fail(index ^ 2, v.size, leaf, want, root, "index ^ 2");
    expect_fail(index, v.size * 2, leaf, want, root, "size * 2");
    expect_fail(index, v.size / 2, leaf, want, root, "size / 2");
    expect_fail(index, v.size, some_hash, want, root, "wrong leaf");
    expect_fail(index, v.size, leaf, want, D(kRoots[0]), "empty root");
    expect_fail(index, v.size, leaf, want, some_hash, "random root");
    std::vector<Digest> longer = want;
    longer.push_back(root);
    expect_fail(index, v.size, leaf, longer, root, "trailing root");
    longer = want;
    longer.insert(longer.begin(), root);
    expect_fail(index, v.size, leaf, longer, root, "preceding root");
    for (size_t i = 0; i < want.size(); ++i) {
      std::vector<Digest> flipped = want;
      flipped[i][0] ^= 8;
      expect_fail(index, v.size, leaf, flipped, root, "flipped bit");
    }
    if (!want.empty()) {
      std::vector<Digest> shorter(want.begin(), want.end() - 1);
      expect_fail(index, v.size, leaf, shorter, root, "removed component");
    }
  }
}

TEST_F(Rfc6962VectorTest, ConsistencyProofs) {
  for (const ConsistencyVector& v : kConsistencyVectors) {
    SCOPED_TRACE(absl::StrCat(v.old_size, " -> ", v.new_size));
    const std::vector<Digest> want = ToDigests(v.proof);
    TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> proof,
                            ConsistencyProof(*hasher_, v.old_size, v.new_size, store_.Reader()));
    EXPECT_EQ(proof, want);
    const Digest old_root = D(kRoots[v.old_size]);
    const Digest new_root = D(kRoots[v.new_size]);
    TB_EXPECT_OK(VerifyConsistency(*hasher_, v.old_size, v.new_size, old_root, new_root, want));
    if (want.empty()) continue;

    auto expect_fail = [&](uint64_t m, uint64_t n, const Digest& r1, const Digest& r2,
                           const std::vector<Digest>& p, const char* what) {
      const absl::Status st = VerifyConsistency(*hasher_, m, n, r1, r2, p);
      EXPECT_EQ(st.code(), absl::StatusCode::kInvalidArgument) << what << ": " << st;
    };
    expect_fail(v.old_size - 1, v.new_size, old_root, new_root, want, "old - 1");
    expect_fail(v.old_size + 1, v.new_size, old_root, new_root, want, "old + 1");
    expect_fail(v.old_size ^ 2, v.new_size, old_root, new_root, want, "old ^ 2");
    expect_fail(v.old_size, v.new_size * 2, old_root, new_root, want, "new * 2");
    expect_fail(v.old_size, v.new_size / 2, old_root, new_root, want, "new / 2");
    expect_fail(v.old_size, v.new_size, D(kRoots[0]), new_root, want, "wrong old root");
    expect_fail(v.old_size, v.new_size, old_root, D(kRoots[0]), want, "wrong new root");
    expect_fail(v.old_size, v.new_size, new_root, old_root, want, "swapped roots");
    expect_fail(v.old_size, v.new_size, old_root, new_root, {}, "empty proof");
    std::vector<Digest> changed = want;
    changed.push_back(old_root);
    expect_fail(v.old_size, v.new_size, old_root, new_root, changed, "trailing old root");
    changed = want;
    changed.insert(changed.begin(), old_root);
    expect_fail(v.old_size, v.new_size, old_root, new_root, changed, "preceding old root");
    changed = want;
    changed.insert(changed.begin(), want[0]);
    expect_fail(v.old_size, v.new_size, old_root, new_root, changed, "preceding proof[0]");
    changed.assign(want.begin(), want.end() - 1);
    expect_fail(v.old_size, v.new_size, old_root, new_root, changed, "truncated");
    for (size_t i = 0; i < want.size(); ++i) {
      changed = want;
      changed[i][0] ^= 16;
      expect_fail(v.old_size, v.new_size, old_root, new_root, changed, "flipped bit");
    }
  }
}

TEST_F(Rfc6962VectorTest, AppendReportsLeafThenCompletedSubtreesLowestFirst) {
  std::unique_ptr<Hasher> hasher = GetSuite(SuiteId::kIntl).NewHasher();
  Frontier frontier;
  std::vector<std::pair<NodeId, std::string>> reported;
  for (uint64_t i = 0; i < 8; ++i) {
    reported.clear();
    frontier.Append(*hasher, store_.Get({0, i}),
                    [&](NodeId id, const Digest& d) { reported.emplace_back(id, Hex(d)); });
  }
  // The 8th leaf closes subtrees at levels 1, 2 and 3.
  ASSERT_EQ(reported.size(), 4u);
  EXPECT_EQ(reported[0].first, (NodeId{0, 7}));
  EXPECT_EQ(reported[1].first, (NodeId{1, 3}));
  EXPECT_EQ(reported[2].first, (NodeId{2, 1}));
  EXPECT_EQ(reported[3].first, (NodeId{3, 0}));
  EXPECT_EQ(reported[3].second, kNodeHashes[3][0]);
  EXPECT_EQ(frontier.size(), 8u);
}

// ---------------------------------------------------------------- edge cases

TEST(MerkleEdgeTest, MalformedRequestsAreInvalidArgument) {
  std::unique_ptr<Hasher> hasher = GetSuite(SuiteId::kIntl).NewHasher();
  NodeStore store(*hasher);
  for (int i = 0; i < 5; ++i) store.Append(LeafHash(*hasher, std::string(1, 'a' + i)));
  const NodeReader read = store.Reader();
  const Digest root = store.frontier().Root(*hasher);
  const Digest leaf = store.Get({0, 0});
  const auto invalid = absl::StatusCode::kInvalidArgument;

  EXPECT_EQ(InclusionProof(*hasher, 5, 5, read).status().code(), invalid);
  EXPECT_EQ(InclusionProof(*hasher, 0, 0, read).status().code(), invalid);
  EXPECT_EQ(ConsistencyProof(*hasher, 6, 5, read).status().code(), invalid);
  EXPECT_EQ(RangeHash(*hasher, 3, 2, read).status().code(), invalid);
  TB_ASSERT_OK_AND_ASSIGN(Digest empty, RangeHash(*hasher, 3, 3, read));
  EXPECT_EQ(empty, EmptyRoot(*hasher));

  EXPECT_EQ(VerifyInclusion(*hasher, 5, 5, leaf, {}, root).code(), invalid);
  EXPECT_EQ(VerifyInclusion(*hasher, 0, 0, leaf, {}, root).code(), invalid);
  EXPECT_EQ(VerifyInclusion(*hasher, 0, 1, leaf, {}, root).code(), invalid);  // wrong root
  TB_EXPECT_OK(VerifyInclusion(*hasher, 0, 1, leaf, {}, leaf));

  const Digest empty_root = EmptyRoot(*hasher);
  EXPECT_EQ(VerifyConsistency(*hasher, 6, 5, root, root, {}).code(), invalid);
  TB_EXPECT_OK(VerifyConsistency(*hasher, 5, 5, root, root, {}));
  EXPECT_EQ(VerifyConsistency(*hasher, 5, 5, root, leaf, {}).code(), invalid);
  EXPECT_EQ(VerifyConsistency(*hasher, 5, 5, root, root, {root}).code(), invalid);
  TB_EXPECT_OK(VerifyConsistency(*hasher, 0, 5, empty_root, root, {}));
  TB_EXPECT_OK(VerifyConsistency(*hasher, 0, 0, empty_root, empty_root, {}));
  EXPECT_EQ(VerifyConsistency(*hasher, 0, 5, leaf, root, {}).code(), invalid);
  EXPECT_EQ(VerifyConsistency(*hasher, 0, 5, empty_root, root, {root}).code(), invalid);
  EXPECT_EQ(VerifyConsistency(*hasher, 1, 5, leaf, root, {}).code(), invalid);
  TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> none, ConsistencyProof(*hasher, 0, 5, read));
  EXPECT_TRUE(none.empty());
}

TEST(MerkleEdgeTest, ReaderErrorsPassThroughUnchanged) {
  std::unique_ptr<Hasher> hasher = GetSuite(SuiteId::kIntl).NewHasher();
  const NodeReader broken = [](NodeId) -> absl::StatusOr<Digest> {
    return absl::DataLossError("bad block 42");
  };
  for (const absl::Status& s :
       {InclusionProof(*hasher, 2, 7, broken).status(),
        ConsistencyProof(*hasher, 3, 7, broken).status(), RangeHash(*hasher, 0, 7, broken).status(),
        Frontier::Load(7, broken).status()}) {
    EXPECT_EQ(s, absl::DataLossError("bad block 42"));
  }
}

// ---------------------------------------------------------------- properties

// The sequence of hashing steps the RFC 9162 verifiers take for a shape. Two
// shapes with equal traces hash a proof identically, so no verifier can tell
// them apart; a "wrong size" is only expected to fail when its trace differs.
std::string InclusionTrace(uint64_t index, uint64_t size) {
  if (index >= size) return "invalid";
  std::string trace;
  uint64_t fn = index, sn = size - 1;
  while (sn != 0) {
    if ((fn & 1) != 0 || fn == sn) {
      trace += 'L';
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      trace += 'R';
    }
    fn >>= 1;
    sn >>= 1;
  }
  return trace;
}

std::string ConsistencyTrace(uint64_t m, uint64_t n) {
  if (m == 0 || m >= n) return absl::StrCat("special ", m, " ", n);
  std::string trace = std::has_single_bit(m) ? "P" : "-";
  uint64_t fn = m - 1, sn = n - 1;
  while ((fn & 1) != 0) {
    fn >>= 1;
    sn >>= 1;
  }
  while (sn != 0) {
    if ((fn & 1) != 0 || fn == sn) {
      trace += 'L';
      while ((fn & 1) == 0 && fn != 0) {
        fn >>= 1;
        sn >>= 1;
      }
    } else {
      trace += 'R';
    }
    fn >>= 1;
    sn >>= 1;
  }
  return trace;
}

// Random trees under both hashes, seeded from gtest's seed (shown in every
// failure; replay with --gtest_random_seed).
class MerklePropertyTest : public testing::TestWithParam<SuiteId> {
 protected:
  // Leaf hashes and the root of every prefix (roots[n]: of the first n).
  struct GrownTree {
    std::vector<Digest> leaves;
    std::vector<Digest> roots;
  };

  // Appends `size` random leaves to store_. Distinct leaves: two equal
  // neighbours would make "the wrong index" verify (their hashes are
  // interchangeable), which is not a fault.
  GrownTree GrowRandomTree(uint64_t size) {
    GrownTree t;
    t.roots.push_back(EmptyRoot(*hasher_));
    for (uint64_t n = 1; n <= size; ++n) {
      std::string leaf = absl::StrCat(n, ":");
      leaf.resize(leaf.size() + rng_() % 40);
      for (size_t i = leaf.find(':') + 1; i < leaf.size(); ++i) {
        leaf[i] = static_cast<char>(rng_());
      }
      t.leaves.push_back(LeafHash(*hasher_, leaf));
      store_.Append(t.leaves.back());
      t.roots.push_back(RootOfLeaves(*hasher_, t.leaves));
      EXPECT_EQ(store_.frontier().Root(*hasher_), t.roots[n]) << n;
    }
    return t;
  }

  const uint64_t seed_ = testutil::TestSeed("the Merkle property test");
  const testing::ScopedTrace trace_{__FILE__, __LINE__, testutil::SeedTrace(seed_)};
  std::mt19937_64 rng_{seed_};
  std::unique_ptr<Hasher> hasher_ = GetSuite(GetParam()).NewHasher();
  NodeStore store_{*hasher_};
};

INSTANTIATE_TEST_SUITE_P(BothHashes, MerklePropertyTest,
                         testing::Values(SuiteId::kIntl, SuiteId::kGm),
                         [](const testing::TestParamInfo<SuiteId>& info) {
                           return std::string(crypto::SuiteName(info.param));
                         });

// For every tree size n <= 64 and every m <= n: roots agree, and every
// inclusion and consistency proof verifies while every corruption fails.
TEST_P(MerklePropertyTest, AllProofsOfSmallTrees) {
  constexpr uint64_t kMaxSize = 64;
  const auto [leaves, roots] = GrowRandomTree(kMaxSize);
  const NodeReader read = store_.Reader();
  const auto invalid = absl::StatusCode::kInvalidArgument;

  for (uint64_t n = 0; n <= kMaxSize; ++n) {
    SCOPED_TRACE(absl::StrCat("size ", n));
    TB_ASSERT_OK_AND_ASSIGN(Frontier loaded, Frontier::Load(n, read));
    ASSERT_EQ(loaded.Root(*hasher_), roots[n]);
    TB_ASSERT_OK_AND_ASSIGN(Digest range, RangeHash(*hasher_, 0, n, read));
    ASSERT_EQ(range, roots[n]);

    for (uint64_t m = 0; m < n; ++m) {
      SCOPED_TRACE(absl::StrCat("leaf ", m));
      TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> proof, InclusionProof(*hasher_, m, n, read));
      TB_ASSERT_OK(VerifyInclusion(*hasher_, m, n, leaves[m], proof, roots[n]));
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Digest> bad = proof;
        bad[i][rng_() % 32] ^= static_cast<uint8_t>(1u << (rng_() % 8));
        EXPECT_EQ(VerifyInclusion(*hasher_, m, n, leaves[m], bad, roots[n]).code(), invalid);
      }
      Digest bad_leaf = leaves[m];
      bad_leaf[rng_() % 32] ^= 1;
      EXPECT_EQ(VerifyInclusion(*hasher_, m, n, bad_leaf, proof, roots[n]).code(), invalid);
      for (uint64_t wrong_index : {m + 1, m - 1, m ^ 1, m ^ 2, n}) {
        if (wrong_index == m || wrong_index > n) continue;
        EXPECT_EQ(VerifyInclusion(*hasher_, wrong_index, n, leaves[m], proof, roots[n]).code(),
                  invalid)
            << "wrong index " << wrong_index;
      }
      for (uint64_t wrong_size : {n + 1, n - 1, 2 * n, n / 2, uint64_t{0}}) {
        if (wrong_size == n || InclusionTrace(m, wrong_size) == InclusionTrace(m, n)) continue;
        EXPECT_EQ(VerifyInclusion(*hasher_, m, wrong_size, leaves[m], proof, roots[n]).code(),
                  invalid)
            << "wrong size " << wrong_size;
      }
    }

    for (uint64_t m = 0; m <= n; ++m) {
      SCOPED_TRACE(absl::StrCat("old size ", m));
      TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> proof, ConsistencyProof(*hasher_, m, n, read));
      TB_ASSERT_OK(VerifyConsistency(*hasher_, m, n, roots[m], roots[n], proof));
      for (size_t i = 0; i < proof.size(); ++i) {
        std::vector<Digest> bad = proof;
        bad[i][rng_() % 32] ^= static_cast<uint8_t>(1u << (rng_() % 8));
        EXPECT_EQ(VerifyConsistency(*hasher_, m, n, roots[m], roots[n], bad).code(), invalid);
      }
      if (m < n) {
        EXPECT_EQ(VerifyConsistency(*hasher_, m, n, roots[m + 1], roots[n], proof).code(), invalid);
      }
      if (m > 0) {
        EXPECT_EQ(VerifyConsistency(*hasher_, m, n, roots[m - 1], roots[n], proof).code(), invalid);
      }
      // (From the empty tree every new root is consistent, so m = 0 is skipped.)
      if (m > 0 && m < n) {
        EXPECT_EQ(VerifyConsistency(*hasher_, m, n, roots[m], roots[n - 1], proof).code(), invalid);
      }
      for (uint64_t wrong_old : {m + 1, m - 1, m ^ 1, m ^ 2}) {
        if (wrong_old == m || wrong_old > kMaxSize ||
            ConsistencyTrace(wrong_old, n) == ConsistencyTrace(m, n)) {
          continue;
        }
        EXPECT_EQ(VerifyConsistency(*hasher_, wrong_old, n, roots[m], roots[n], proof).code(),
                  invalid)
            << "wrong old size " << wrong_old;
      }
      for (uint64_t wrong_new : {n + 1, n - 1, 2 * n}) {
        if (m == 0 || wrong_new == n || ConsistencyTrace(m, wrong_new) == ConsistencyTrace(m, n))
          continue;
        EXPECT_EQ(VerifyConsistency(*hasher_, m, wrong_new, roots[m], roots[n], proof).code(),
                  invalid)
            << "wrong new size " << wrong_new;
      }
    }
  }
}

// The leaf ranges [b, e) of the nodes of leaf m's RFC 9162 audit path in a
// tree of n, from the leaf up (the order of InclusionProof), walking PATH
// of section 2.1.3.1 down from the root.
std::vector<std::pair<uint64_t, uint64_t>> AuditPathRanges(uint64_t m, uint64_t n) {
  std::vector<std::pair<uint64_t, uint64_t>> ranges;
  uint64_t b = 0, e = n;
  while (e - b > 1) {
    const uint64_t k = uint64_t{1} << (std::bit_width(e - b - 1) - 1);
    if (m < b + k) {
      ranges.emplace_back(b + k, e);
      e = b + k;
    } else {
      ranges.emplace_back(b, b + k);
      b += k;
    }
  }
  return {ranges.rbegin(), ranges.rend()};
}

// A batch proof for random sets of leaves (sparse, dense, runs, single)
// is what the single-leaf proofs imply: the audit-path nodes of its leaves
// that cover none of them, once each, left to right. It verifies, and every
// corruption of a hash, a leaf, an index, or the length fails.
TEST_P(MerklePropertyTest, BatchProofsAgreeWithSingleProofs) {
  constexpr uint64_t kMaxSize = 300;
  const auto [leaves, roots] = GrowRandomTree(kMaxSize);
  const NodeReader read = store_.Reader();
  const auto invalid = absl::StatusCode::kInvalidArgument;

  for (int trial = 0; trial < 400; ++trial) {
    const uint64_t n = 1 + rng_() % kMaxSize;
    std::vector<uint64_t> set;
    switch (trial % 4) {
      case 0:  // one leaf
        set = {rng_() % n};
        break;
      case 1: {  // a run, as a routed feed sends when most events are for the peer
        const uint64_t first = rng_() % n;
        const uint64_t last = first + rng_() % (n - first);
        for (uint64_t i = first; i <= last; ++i) set.push_back(i);
        break;
      }
      default: {  // each leaf with a probability of 1/2 (dense) or 1/16 (sparse)
        const uint64_t one_in = trial % 4 == 2 ? 2 : 16;
        for (uint64_t i = 0; i < n; ++i) {
          if (rng_() % one_in == 0) set.push_back(i);
        }
        if (set.empty()) set.push_back(rng_() % n);
      }
    }
    SCOPED_TRACE(absl::StrCat("trial ", trial, ": ", set.size(), " leaves of ", n));
    std::vector<Digest> set_leaves;
    for (uint64_t i : set) set_leaves.push_back(leaves[i]);

    // The reference: single proofs, their nodes named by their leaf ranges.
    std::map<std::pair<uint64_t, uint64_t>, Digest> needed;  // ordered by first leaf
    for (uint64_t m : set) {
      TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> single, InclusionProof(*hasher_, m, n, read));
      TB_ASSERT_OK(VerifyInclusion(*hasher_, m, n, leaves[m], single, roots[n]));
      const auto ranges = AuditPathRanges(m, n);
      ASSERT_EQ(ranges.size(), single.size());
      for (size_t j = 0; j < ranges.size(); ++j) {
        const auto [b, e] = ranges[j];
        TB_ASSERT_OK_AND_ASSIGN(Digest range_hash, RangeHash(*hasher_, b, e, read));
        ASSERT_EQ(range_hash, single[j]) << "node [" << b << ", " << e << ") of leaf " << m;
        const bool holds_a_leaf = std::lower_bound(set.begin(), set.end(), b) !=
                                  std::lower_bound(set.begin(), set.end(), e);
        if (!holds_a_leaf) needed.emplace(ranges[j], single[j]);
      }
    }
    std::vector<Digest> expected;
    for (const auto& [range, d] : needed) expected.push_back(d);

    TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> proof, BatchInclusionProof(*hasher_, set, n, read));
    ASSERT_EQ(proof, expected);
    TB_ASSERT_OK_AND_ASSIGN(uint64_t count, BatchInclusionProofSize(set, n));
    EXPECT_EQ(count, proof.size());
    TB_ASSERT_OK(VerifyBatchInclusion(*hasher_, set, n, set_leaves, proof, roots[n]));

    if (!proof.empty()) {
      std::vector<Digest> bad = proof;
      bad[rng_() % bad.size()][rng_() % 32] ^= static_cast<uint8_t>(1u << (rng_() % 8));
      EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, n, set_leaves, bad, roots[n]).code(), invalid);
      bad = proof;
      bad.pop_back();
      EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, n, set_leaves, bad, roots[n]).code(), invalid);
    }
    std::vector<Digest> longer = proof;
    longer.push_back(roots[n]);
    EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, n, set_leaves, longer, roots[n]).code(), invalid);
    std::vector<Digest> bad_leaves = set_leaves;
    bad_leaves[rng_() % bad_leaves.size()][rng_() % 32] ^= 1;
    EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, n, bad_leaves, proof, roots[n]).code(), invalid);
    if (set.size() >= 2) {  // two leaves swapped: each is then at the other's index
      bad_leaves = set_leaves;
      std::swap(bad_leaves[0], bad_leaves[1]);
      EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, n, bad_leaves, proof, roots[n]).code(),
                invalid);
    }
    // A leaf claimed at a neighbouring index not in the set.
    std::vector<uint64_t> moved = set;
    if (moved.back() + 1 < n) {
      ++moved.back();
      EXPECT_EQ(VerifyBatchInclusion(*hasher_, moved, n, set_leaves, proof, roots[n]).code(),
                invalid);
    }
    if (n > 1 && n < kMaxSize) {
      EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, n, set_leaves, proof, roots[n + 1]).code(),
                invalid);
    }
  }

  // Sets that are not sets of leaves of the tree.
  const std::vector<std::vector<uint64_t>> not_sets = {{}, {3, 2}, {2, 2}, {0, 10}};
  for (const std::vector<uint64_t>& set : not_sets) {
    EXPECT_EQ(BatchInclusionProof(*hasher_, set, 10, read).status().code(), invalid);
    EXPECT_EQ(BatchInclusionProofSize(set, 10).status().code(), invalid);
    const std::vector<Digest> some(set.size(), leaves[0]);
    EXPECT_EQ(VerifyBatchInclusion(*hasher_, set, 10, some, {}, roots[10]).code(), invalid);
  }
  // One leaf hash too few.
  TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> proof,
                          BatchInclusionProof(*hasher_, {1, 4}, 10, read));
  EXPECT_EQ(VerifyBatchInclusion(*hasher_, {1, 4}, 10, {leaves[1]}, proof, roots[10]).code(),
            invalid);
}

// Proofs read O(log n) stored nodes, never the whole tree; a batch proof
// O(k log(n/k)).
TEST_P(MerklePropertyTest, ProofsReadLogarithmicallyManyNodes) {
  std::unique_ptr<Hasher> hasher = GetSuite(GetParam()).NewHasher();
  constexpr uint64_t kLeaves = 100000;
  NodeStore store(*hasher);
  for (uint64_t i = 0; i < kLeaves; ++i) {
    store.Append(LeafHash(*hasher, absl::StrCat("event ", i)));
  }
  const NodeReader read = store.Reader();
  std::mt19937_64 rng(20240611);
  const int log_n = std::bit_width(kLeaves);  // 17

  store.ResetReads();
  TB_ASSERT_OK_AND_ASSIGN(Frontier loaded, Frontier::Load(kLeaves, read));
  EXPECT_EQ(store.reads(), std::popcount(kLeaves));
  EXPECT_EQ(loaded.Root(*hasher), store.frontier().Root(*hasher));

  int max_inclusion = 0, max_consistency = 0;
  for (int trial = 0; trial < 200; ++trial) {
    const uint64_t n = 1 + rng() % kLeaves;
    const uint64_t m = rng() % n;
    store.ResetReads();
    TB_ASSERT_OK_AND_ASSIGN(Frontier at_n, Frontier::Load(n, read));
    const Digest root_n = at_n.Root(*hasher);
    store.ResetReads();
    TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> inclusion, InclusionProof(*hasher, m, n, read));
    max_inclusion = std::max(max_inclusion, store.reads());
    EXPECT_LE(store.reads(), 2 * log_n) << m << " in " << n;
    TB_ASSERT_OK(VerifyInclusion(*hasher, m, n, store.Get({0, m}), inclusion, root_n));

    const uint64_t old_size = 1 + rng() % n;
    TB_ASSERT_OK_AND_ASSIGN(Frontier at_old, Frontier::Load(old_size, read));
    store.ResetReads();
    TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> consistency,
                            ConsistencyProof(*hasher, old_size, n, read));
    max_consistency = std::max(max_consistency, store.reads());
    EXPECT_LE(store.reads(), 2 * log_n) << old_size << " -> " << n;
    TB_ASSERT_OK(
        VerifyConsistency(*hasher, old_size, n, at_old.Root(*hasher), root_n, consistency));
  }
  RecordProperty("max_inclusion_reads", max_inclusion);
  RecordProperty("max_consistency_reads", max_consistency);
  // A range starting at an aligned boundary also reads O(log n) nodes.
  store.ResetReads();
  TB_ASSERT_OK(RangeHash(*hasher, 65536, kLeaves, read));
  EXPECT_LE(store.reads(), log_n);

  // A batch proof of k leaves reads O(k log(n/k)) nodes: a run of a
  // thousand leaves needs hardly more than one leaf.
  std::vector<uint64_t> run;
  std::vector<Digest> run_leaves;
  for (uint64_t i = 40000; i < 41024; ++i) {
    run.push_back(i);
    run_leaves.push_back(store.Get({0, i}));
  }
  store.ResetReads();
  TB_ASSERT_OK_AND_ASSIGN(std::vector<Digest> batch,
                          BatchInclusionProof(*hasher, run, kLeaves, read));
  EXPECT_LE(batch.size(), 2u * log_n);
  EXPECT_LE(store.reads(), 4 * log_n);
  TB_ASSERT_OK(VerifyBatchInclusion(*hasher, run, kLeaves, run_leaves, batch,
                                    store.frontier().Root(*hasher)));
}

}  // namespace
}  // namespace tongban::merkle
