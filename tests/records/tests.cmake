# What a record is and means: validation, links and audience.
tongban_test(records_test LABEL unit
  SRCS records/validate_test.cc records/links_test.cc DEPS tongban_records)
