rib_cc_binary(NAME rib-rank SRCS ${CMAKE_CURRENT_SOURCE_DIR}/rib_rank_main.cc
  DEPS rib_rank rib_program absl::flags TORCH)
