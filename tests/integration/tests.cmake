tongban_test(integration_test LABEL integration
  SRCS integration/federation_story_test.cc DEPS tongban_transport)
