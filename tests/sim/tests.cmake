# The deterministic simulation of a federation (issue 17,
# tests/sim/simulation_test.cc). Its defaults are make test's: up to 1,000
# seeds of 250 steps within 45 s (no seed starts later), its stores in
# /dev/shm; tools/simulate.sh (make simulate) runs any range of seeds on
# every core.
add_executable(simulation_test sim/simulation_test.cc)
target_link_libraries(simulation_test PRIVATE tongban_sync tongban_testutil GTest::gtest_main)
gtest_discover_tests(simulation_test PROPERTIES LABELS unit DISCOVERY_TIMEOUT 60)
