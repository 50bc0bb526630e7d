# oneDNN by its header and library, not by its CMake config: Debian's
# dnnl-config.cmake comes from a build with the OpenCL GPU runtime and demands
# OpenCL's development files (a package libdnnl-dev only recommends), although
# a CPU program never touches them; libdnnl.so already links its own OpenCL
# loader. Defines the imported target recur_deps::dnnl and sets
# RECUR_DNNL_FOUND. Used by recur's own build and, installed beside
# recurConfig.cmake, by find_package(recur) for the static library.
include_guard(GLOBAL)
find_path(RECUR_DNNL_INCLUDE_DIR oneapi/dnnl/dnnl.h)
find_library(RECUR_DNNL_LIBRARY NAMES dnnl)
set(RECUR_DNNL_FOUND FALSE)
if(RECUR_DNNL_INCLUDE_DIR AND RECUR_DNNL_LIBRARY)
  set(RECUR_DNNL_FOUND TRUE)
  if(NOT TARGET recur_deps::dnnl)
    add_library(recur_deps::dnnl UNKNOWN IMPORTED)
    set_target_properties(recur_deps::dnnl PROPERTIES
      IMPORTED_LOCATION "${RECUR_DNNL_LIBRARY}"
      INTERFACE_INCLUDE_DIRECTORIES "${RECUR_DNNL_INCLUDE_DIR}")
  endif()
endif()
set(RECUR_DNNL_HINT "oneDNN not found (oneapi/dnnl/dnnl.h: ${RECUR_DNNL_INCLUDE_DIR}, libdnnl: ${RECUR_DNNL_LIBRARY}); on Debian: apt-get install libdnnl-dev")
