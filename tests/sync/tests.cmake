tongban_test(sync_test LABEL unit SRCS sync/backoff_test.cc sync/driver_test.cc sync/feed_test.cc sync/input_account_test.cc sync/session_test.cc sync/clock_skew_test.cc sync/verify_test.cc sync/roster_test.cc DEPS tongban_sync)
tongban_test(transport_test LABEL integration SRCS sync/transport_test.cc DEPS tongban_transport)
tongban_test(hostile_peer_test LABEL integration SRCS sync/hostile_peer_test.cc
             DEPS tongban_transport tongban_proto_grpc)
tongban_test(witness_test LABEL integration SRCS sync/witness_test.cc sync/roster_holder_test.cc
             DEPS tongban_transport)
tongban_test(insider_test LABEL integration SRCS sync/insider_test.cc
             DEPS tongban_transport tongban_proto_grpc)
