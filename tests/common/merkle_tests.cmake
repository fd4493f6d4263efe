# Merkle tree and checkpoint tests (paths relative to tests/).
list(APPEND COMMON_TEST_SRCS
  common/merkle/tree_test.cc
  common/merkle/checkpoint_test.cc
  common/merkle/cosignature_test.cc
  common/merkle/restart_test.cc
  common/merkle/rotation_test.cc
)
