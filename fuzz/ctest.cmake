# Included by tests/CMakeLists.txt when RN_FUZZ_BIN_DIR names a built fuzz tree: each
# fuzzer runs for RN_FUZZ_SECONDS from the committed seed corpus; any crash fails.
set(RN_FUZZ_SECONDS 60 CACHE STRING "Seconds each fuzzer runs in the test suite")
foreach(t fuzz_wire_decode fuzz_event_id fuzz_sse_frame fuzz_interest)
  add_test(NAME fuzz/${t}
           COMMAND ${CMAKE_SOURCE_DIR}/fuzz/run.sh ${RN_FUZZ_BIN_DIR} ${RN_FUZZ_SECONDS} ${t})
  math(EXPR fuzz_timeout "${RN_FUZZ_SECONDS} + 120")
  # Alone: a fuzzer takes a whole core, which would skew the timing of other tests.
  set_tests_properties(fuzz/${t} PROPERTIES LABELS fuzz TIMEOUT ${fuzz_timeout} RUN_SERIAL TRUE
                       FIXTURES_REQUIRED fuzz_tree)
endforeach()
