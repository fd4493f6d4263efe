target_sources(tongban_common PRIVATE ids/citizen_id.cc ids/region.cc)
