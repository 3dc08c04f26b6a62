# infra_lazy_library(TARGET PKG DEFINE): the library of pkg-config module
# PKG (found by pkg_check_modules(PKG ...)) is opened by TARGET at its first
# use rather than linked (core/src/base/lazylib.h says why). TARGET gets
# the library's headers, libdl, and DEFINE set to the library's soname
# ("libcurl.so.4"), read from the very file the build found so that the
# binary asks for the ABI it was compiled against.
function(infra_lazy_library target pkg define)
  set(file)
  foreach(candidate ${${pkg}_LINK_LIBRARIES})
    if(candidate MATCHES "\\.so(\\.|$)")
      set(file ${candidate})
      break()
    endif()
  endforeach()
  if(NOT file)
    message(FATAL_ERROR "${pkg}: no shared library among '${${pkg}_LINK_LIBRARIES}'")
  endif()
  if(NOT CMAKE_OBJDUMP)
    message(FATAL_ERROR "${pkg}: objdump (binutils) is needed to read the soname of ${file}")
  endif()
  execute_process(COMMAND ${CMAKE_OBJDUMP} -p ${file}
    OUTPUT_VARIABLE dump RESULT_VARIABLE rc ERROR_QUIET)
  string(REGEX MATCH "SONAME +([^ \n]+)" _ "${dump}")
  if(NOT rc EQUAL 0 OR NOT CMAKE_MATCH_1)
    message(FATAL_ERROR "${pkg}: cannot read the soname of ${file}")
  endif()
  message(STATUS "${pkg}: ${CMAKE_MATCH_1} opened at first use")
  target_include_directories(${target} PUBLIC ${${pkg}_INCLUDE_DIRS})
  target_compile_options(${target} PUBLIC ${${pkg}_CFLAGS_OTHER})
  target_compile_definitions(${target} PRIVATE ${define}="${CMAKE_MATCH_1}")
  target_link_libraries(${target} PUBLIC ${CMAKE_DL_LIBS})
endfunction()
