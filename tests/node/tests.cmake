# The running node (paths relative to tests/).
tongban_test(config_test LABEL unit SRCS node/config_test.cc DEPS tongban_node)
