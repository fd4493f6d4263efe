# RFC 9162 Merkle tree math and signed checkpoints. Paths relative to common/.
target_sources(tongban_common PRIVATE
  merkle/tree.cc
  merkle/checkpoint.cc
  merkle/cosignature.cc
  merkle/restart.cc
  merkle/rotation.cc
)
