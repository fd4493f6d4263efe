# What a record is and means: the kind table and words, validation, links and
# audience, record states and their standing head, dates.
tongban_test(records_test LABEL unit
  SRCS records/validate_test.cc records/links_test.cc records/kinds_test.cc
       records/record_state_test.cc DEPS tongban_records)
