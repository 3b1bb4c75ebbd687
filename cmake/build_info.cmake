# Run at build time (cmake -P) by the rib_build_info target: writes OUT from IN with the
# git commit the sources are at, so `--version` names the commit a binary was built from
# even when the build directory outlives many commits. configure_file rewrites OUT only
# when its text changes, so an unchanged commit rebuilds nothing.
#   cmake -DSOURCE_DIR=... -DIN=build_info.h.in -DOUT=build_info.h -DRIB_VERSION=...
#         -DRIB_TORCH_VERSION=... -DRIB_WITH_CUDA=ON|OFF -P build_info.cmake
set(RIB_GIT_COMMIT "unknown")
find_program(_git git)
if(_git AND EXISTS "${SOURCE_DIR}/.git")
  execute_process(COMMAND ${_git} rev-parse --short=12 HEAD
    WORKING_DIRECTORY ${SOURCE_DIR} OUTPUT_VARIABLE _commit
    OUTPUT_STRIP_TRAILING_WHITESPACE ERROR_QUIET RESULT_VARIABLE _rc)
  if(_rc EQUAL 0 AND _commit)
    set(RIB_GIT_COMMIT "${_commit}")
    # Tracked files changed since that commit: say so, the binary is not that commit.
    execute_process(COMMAND ${_git} diff --quiet HEAD --
      WORKING_DIRECTORY ${SOURCE_DIR} RESULT_VARIABLE _dirty ERROR_QUIET)
    if(_dirty EQUAL 1)
      string(APPEND RIB_GIT_COMMIT "-dirty")
    endif()
  endif()
endif()
if(RIB_WITH_CUDA)
  set(RIB_WITH_CUDA_VALUE true)
else()
  set(RIB_WITH_CUDA_VALUE false)
endif()
configure_file(${IN} ${OUT} @ONLY)
