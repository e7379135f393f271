# funnel_warnings: the warning set every Funnel target builds with (warning-free is the rule).
add_library(funnel_warnings INTERFACE)
target_compile_options(funnel_warnings INTERFACE -Wall -Wextra -Wpedantic -Wshadow=local -Wnon-virtual-dtor)

# funnel_add_library(NAME SOURCES ... DEPS ...): one static library per pipeline stage.
function(funnel_add_library name)
  cmake_parse_arguments(ARG "" "" "SOURCES;DEPS" ${ARGN})
  add_library(${name} STATIC ${ARG_SOURCES})
  target_include_directories(${name} PUBLIC ${PROJECT_SOURCE_DIR}/include PRIVATE ${PROJECT_SOURCE_DIR}/src)
  target_link_libraries(${name} PUBLIC ${ARG_DEPS} PRIVATE funnel_warnings)
endfunction()
