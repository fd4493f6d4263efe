# The running node (paths relative to tests/).
tongban_test(config_test LABEL unit SRCS node/config_test.cc DEPS tongban_node)
# The example files of deploy/ parse.
target_compile_definitions(config_test PRIVATE TB_SOURCE_DIR="${CMAKE_SOURCE_DIR}")
