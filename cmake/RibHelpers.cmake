# rib_cc_library / rib_cc_test: the two helpers every module folder uses (modelled on
# Abseil's absl_cc_library). One library target per module folder.
include(CMakeParseArguments)

# rib_cc_library(NAME rib_common SRCS a.cc b.cc DEPS other [TORCH] [PUBLIC_INCLUDES dir])
#   TORCH: the target includes LibTorch headers; it links Torch and reuses the
#   precompiled torch header so each translation unit skips parsing torch/torch.h.
function(rib_cc_library)
  cmake_parse_arguments(RIB "TORCH" "NAME" "SRCS;DEPS" ${ARGN})
  if(RIB_SRCS)
    add_library(${RIB_NAME} STATIC ${RIB_SRCS})
    target_include_directories(${RIB_NAME} PUBLIC ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${RIB_NAME} PUBLIC ${RIB_DEPS})
    set(_scope PUBLIC)
  else()
    add_library(${RIB_NAME} INTERFACE)
    target_include_directories(${RIB_NAME} INTERFACE ${PROJECT_SOURCE_DIR} ${PROJECT_BINARY_DIR})
    target_link_libraries(${RIB_NAME} INTERFACE ${RIB_DEPS})
    set(_scope INTERFACE)
  endif()
  if(RIB_TORCH)
    target_link_libraries(${RIB_NAME} ${_scope} rib_torch)
    if(RIB_SRCS)
      rib_use_torch_pch(${RIB_NAME})
    endif()
  endif()
endfunction()

# rib_cc_binary(NAME rib-run SRCS main.cc DEPS lib [TORCH])
function(rib_cc_binary)
  cmake_parse_arguments(RIB "TORCH" "NAME" "SRCS;DEPS" ${ARGN})
  add_executable(${RIB_NAME} ${RIB_SRCS})
  target_link_libraries(${RIB_NAME} PRIVATE ${RIB_DEPS})
  if(RIB_TORCH)
    target_link_libraries(${RIB_NAME} PRIVATE rib_torch)
    rib_use_torch_pch(${RIB_NAME})
  endif()
  set_target_properties(${RIB_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/bin)
endfunction()

# rib_cc_test(NAME data_split_test SRCS split_test.cc DEPS rib_data LABELS unit [TORCH]
#             [TIMEOUT 120] [ENV K=V ...])
# Every test links gmock_main and rib_testing (IsOk / StatusIs matchers).
function(rib_cc_test)
  cmake_parse_arguments(RIB "TORCH" "NAME;TIMEOUT" "SRCS;DEPS;LABELS;ENV" ${ARGN})
  add_executable(${RIB_NAME} ${RIB_SRCS})
  target_link_libraries(${RIB_NAME} PRIVATE ${RIB_DEPS} rib_testing GTest::gmock_main)
  if(RIB_TORCH)
    target_link_libraries(${RIB_NAME} PRIVATE rib_torch)
    rib_use_torch_pch(${RIB_NAME})
  endif()
  set_target_properties(${RIB_NAME} PROPERTIES RUNTIME_OUTPUT_DIRECTORY ${PROJECT_BINARY_DIR}/tests)
  add_test(NAME ${RIB_NAME} COMMAND ${RIB_NAME})
  if(NOT RIB_LABELS)
    set(RIB_LABELS unit)
  endif()
  if(NOT RIB_TIMEOUT)
    set(RIB_TIMEOUT 300)
  endif()
  # Exit code 77 = skipped (e.g. postgres or cuda tests with nothing to run against).
  set_tests_properties(${RIB_NAME} PROPERTIES LABELS "${RIB_LABELS}" TIMEOUT ${RIB_TIMEOUT}
    SKIP_RETURN_CODE 77 ENVIRONMENT "RIB_SOURCE_DIR=${PROJECT_SOURCE_DIR};RIB_BINARY_DIR=${PROJECT_BINARY_DIR};${RIB_ENV}")
endfunction()

# All torch targets share one precompiled header, built once in rib_torch_pch.
function(rib_use_torch_pch target)
  if(RIB_TORCH_PCH)
    target_precompile_headers(${target} REUSE_FROM rib_torch_pch)
  endif()
endfunction()

# rib_glob_sources(VAR): the folder's *.cc files except *_main.cc and *_test.cc, so
# several people can add files to one module without editing its CMakeLists.txt.
function(rib_glob_sources var)
  file(GLOB _all CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*.cc)
  list(FILTER _all EXCLUDE REGEX "(_main|_test)\\.cc$")
  set(${var} ${_all} PARENT_SCOPE)
endfunction()

# rib_glob_tests(DEPS ... LABELS ... [TORCH]): one test target per *_test.cc in the
# folder, named <folder>_<file>. A file can override its labels with a first line
# "// rib-test-labels: postgres".
function(rib_glob_tests)
  cmake_parse_arguments(RIB "TORCH" "PREFIX;TIMEOUT" "DEPS;LABELS" ${ARGN})
  file(GLOB _tests CONFIGURE_DEPENDS ${CMAKE_CURRENT_SOURCE_DIR}/*_test.cc)
  foreach(t ${_tests})
    get_filename_component(_name ${t} NAME_WE)
    file(STRINGS ${t} _first LIMIT_COUNT 1)
    set(_labels ${RIB_LABELS})
    if(_first MATCHES "rib-test-labels: *(.*)$")
      string(REPLACE " " ";" _labels "${CMAKE_MATCH_1}")
    endif()
    set(_torch)
    if(RIB_TORCH)
      set(_torch TORCH)
    endif()
    rib_cc_test(NAME ${RIB_PREFIX}${_name} SRCS ${t} DEPS ${RIB_DEPS} LABELS ${_labels}
      TIMEOUT ${RIB_TIMEOUT} ${_torch})
  endforeach()
endfunction()

# rib_avx2_variant(TEST...): each test again as <TEST>_avx2, run through
# tests/testing/with_avx2_kernels.sh on the code paths of an AVX2 CPU without AVX-512
# (OpenBLAS's Zen kernels, ATen AVX2, oneDNN capped at AVX2), with the same labels,
# timeout and environment; skipped on a CPU without AVX2. The tests that assert
# numerics run on both kernel families wherever CI runs (README, "Determinism"). Call it
# in the folder that defines the tests (their names are their targets').
function(rib_avx2_variant)
  foreach(_t ${ARGN})
    get_test_property(${_t} LABELS _labels)
    get_test_property(${_t} TIMEOUT _timeout)
    get_test_property(${_t} ENVIRONMENT _env)
    add_test(NAME ${_t}_avx2 COMMAND bash
      ${PROJECT_SOURCE_DIR}/tests/testing/with_avx2_kernels.sh $<TARGET_FILE:${_t}>)
    set_tests_properties(${_t}_avx2 PROPERTIES LABELS "${_labels}" TIMEOUT ${_timeout}
      SKIP_RETURN_CODE 77 ENVIRONMENT "${_env}")
  endforeach()
endfunction()
