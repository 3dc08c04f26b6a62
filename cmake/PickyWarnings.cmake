# Picky warnings, always on; errors only with INFRA_WERROR.
#
# A packager's Release build must not fail because a newer compiler found
# something new to warn about, so warnings stay warnings by default. CI
# configures with -DINFRA_WERROR=ON, where any warning fails the build.
#
# Each flag is kept only when the compiler in use accepts it (gcc and clang
# differ: -Wformat-truncation=2, -Wlogical-op and -Wduplicated-cond are
# gcc's), so the same list serves both.
include(CheckCCompilerFlag)

option(INFRA_WERROR "Turn compiler warnings into errors (CI sets it)" OFF)

set(infra_picky_candidates
  -Wall
  -Wextra
  -Wshadow
  -Wformat=2
  -Wformat-truncation=2
  -Wformat-overflow=2
  -Wmissing-prototypes
  -Wstrict-prototypes
  -Wold-style-definition
  -Wmissing-declarations
  -Wnested-externs
  -Wpointer-arith
  -Wundef
  -Wvla
  -Wimplicit-fallthrough
  -Wredundant-decls
  -Wduplicated-cond
  -Wlogical-op
  -Wrestrict
  -Wdouble-promotion)

set(INFRA_PICKY_FLAGS)
foreach(flag ${infra_picky_candidates})
  string(MAKE_C_IDENTIFIER "infra_cc_has${flag}" var)
  check_c_compiler_flag(${flag} ${var})
  if(${var})
    list(APPEND INFRA_PICKY_FLAGS ${flag})
  endif()
endforeach()
# Callbacks of the plugin ABI and of libraries take parameters a given
# implementation does not use; naming them is the documentation.
list(APPEND INFRA_PICKY_FLAGS -Wno-unused-parameter)
if(INFRA_WERROR)
  list(APPEND INFRA_PICKY_FLAGS -Werror)
endif()
