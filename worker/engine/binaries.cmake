# rib-run (one benchmark cell, no coordinator) and rib-pretrain (the embedded suite's
# pre-trained models).
rib_cc_binary(NAME rib-run SRCS ${CMAKE_CURRENT_SOURCE_DIR}/run_main.cc
  DEPS rib_engine rib_common rib_program absl::flags TORCH)
rib_cc_binary(NAME rib-pretrain SRCS ${CMAKE_CURRENT_SOURCE_DIR}/pretrain_main.cc
  DEPS rib_engine rib_common rib_program absl::flags TORCH)
