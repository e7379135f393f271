# Every library Funnel links, found from the Debian packages in scripts/debian-packages.txt.
find_package(Threads REQUIRED)
find_package(absl REQUIRED)
find_package(spdlog REQUIRED)
find_package(fmt REQUIRED)
find_package(tomlplusplus REQUIRED)
find_package(CLI11 REQUIRED)
find_package(simdjson REQUIRED)
find_package(RapidJSON 1.1 REQUIRED)  # header-only; defines RAPIDJSON_INCLUDE_DIRS, no target
find_package(RocksDB REQUIRED)
find_package(Eigen3 3.3 REQUIRED NO_MODULE)
find_package(Hiredis 0.14 REQUIRED)  # Debian's config defines no target: HIREDIS_LIBRARIES
find_package(PkgConfig REQUIRED)
pkg_check_modules(XXHASH REQUIRED IMPORTED_TARGET libxxhash)
pkg_check_modules(RDKAFKA REQUIRED IMPORTED_TARGET rdkafka)
# XGBoost's C API (libxgboost-dev). Its CMake config is not used: Debian's copy also imports the
# `xgboost` command-line program, which lives in another package, and fails when that is absent.
# Funnel needs 1.7+: the JSON model schema tree_ensemble.cc reads and XGBoosterPredictFromDense.
find_path(XGBOOST_INCLUDE_DIR xgboost/c_api.h REQUIRED)
find_library(XGBOOST_LIBRARY NAMES xgboost REQUIRED)
file(STRINGS "${XGBOOST_INCLUDE_DIR}/xgboost/version_config.h" _xgb_ver REGEX "define XGBOOST_VER_(MAJOR|MINOR) ")
string(REGEX REPLACE ".*MAJOR ([0-9]+).*" "\\1" _xgb_major "${_xgb_ver}")
string(REGEX REPLACE ".*MINOR ([0-9]+).*" "\\1" _xgb_minor "${_xgb_ver}")
if("${_xgb_major}.${_xgb_minor}" VERSION_LESS 1.7)
  message(FATAL_ERROR "XGBoost ${_xgb_major}.${_xgb_minor} at ${XGBOOST_INCLUDE_DIR}: Funnel needs 1.7 or newer")
endif()
add_library(Funnel::xgboost UNKNOWN IMPORTED)
set_target_properties(Funnel::xgboost PROPERTIES
  IMPORTED_LOCATION "${XGBOOST_LIBRARY}" INTERFACE_INCLUDE_DIRECTORIES "${XGBOOST_INCLUDE_DIR}")
if(FUNNEL_BUILD_TESTS)
  find_package(GTest REQUIRED)
endif()
if(FUNNEL_BUILD_BENCH)
  find_package(benchmark REQUIRED)
endif()
