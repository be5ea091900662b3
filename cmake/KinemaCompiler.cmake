# Compiler settings shared by every Kinema target.

find_program(KINEMA_CCACHE ccache)
if(KINEMA_CCACHE)
    set(CMAKE_C_COMPILER_LAUNCHER ${KINEMA_CCACHE})
    set(CMAKE_CXX_COMPILER_LAUNCHER ${KINEMA_CCACHE})
endif()

# Warnings as errors for Kinema's own code; link this into every target we own.
add_library(kinema_warnings INTERFACE)
add_library(kinema::warnings ALIAS kinema_warnings)
target_compile_options(kinema_warnings INTERFACE
    -Wall -Wextra -Wpedantic -Wshadow -Wnon-virtual-dtor -Wcast-align -Wunused -Woverloaded-virtual
    -Wimplicit-fallthrough -Werror)

if(KINEMA_SANITIZE)
    add_compile_options(-fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined)
    add_link_options(-fsanitize=address,undefined)
endif()
if(KINEMA_SANITIZE AND CMAKE_CXX_COMPILER_ID STREQUAL "GNU")
    # GCC 12's flow analysis under -fsanitize reports std::function members inside std::regex as maybe
    # uninitialised (a known false positive); the normal build keeps the warning.
    target_compile_options(kinema_warnings INTERFACE -Wno-maybe-uninitialized)
endif()

if(KINEMA_FUZZ)
    if(NOT CMAKE_CXX_COMPILER_ID STREQUAL "Clang")
        message(FATAL_ERROR "KINEMA_FUZZ needs clang: configure with CC=clang CXX=clang++")
    endif()
    # Library code gets coverage instrumentation; the fuzz targets link libFuzzer's main.
    add_compile_options(-fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer)
    add_link_options(-fsanitize=address,undefined)
endif()

# The kinema_add_unit_test(NAME SOURCES... LIBS ...) helper registers a gtest binary with ctest,
# labelled "unit" so the sanitizer build can select it.
function(kinema_add_test name)
    cmake_parse_arguments(ARG "" "LABEL" "SOURCES;LIBS" ${ARGN})
    if(NOT ARG_LABEL)
        set(ARG_LABEL unit)
    endif()
    add_executable(${name} ${ARG_SOURCES})
    target_link_libraries(${name} PRIVATE ${ARG_LIBS} GTest::gtest GTest::gmock GTest::gtest_main kinema::warnings)
    gtest_discover_tests(${name} PROPERTIES LABELS ${ARG_LABEL} DISCOVERY_TIMEOUT 60)
endfunction()
