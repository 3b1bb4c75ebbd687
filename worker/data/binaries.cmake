# rib-data: build FMNIST-RIB, write contact sheets, list a data root's datasets.
rib_cc_binary(NAME rib-data SRCS ${CMAKE_CURRENT_SOURCE_DIR}/rib_data_main.cc
  DEPS rib_data rib_common rib_program absl::flags TORCH)
