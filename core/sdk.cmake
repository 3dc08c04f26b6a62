# Plugin SDK: what a third party needs to build a plugin outside this tree.
#
#   include/infra/plugin.h                      the ABI (installed by core/CMakeLists.txt)
#   LIBDIR/pkgconfig/infra-plugin.pc            pkg-config: Cflags, variable plugindir
#   LIBDIR/cmake/infra-plugin/*.cmake           find_package(infra-plugin): the
#                                               infra::plugin target, infra_plugin_add()
#
# The plugin ABI has no library to link: a plugin only needs the header, and
# every service comes through the host table at run time.
include(CMakePackageConfigHelpers)

# The ABI version is read from the header so the package cannot disagree with it.
# Re-read the ABI version whenever the header changes.
set_property(DIRECTORY APPEND PROPERTY CMAKE_CONFIGURE_DEPENDS
  ${CMAKE_CURRENT_SOURCE_DIR}/include/infra/plugin.h)
file(STRINGS ${CMAKE_CURRENT_SOURCE_DIR}/include/infra/plugin.h infra_sdk_abi_lines
  REGEX "^#define INFRA_ABI_(MAJOR|MINOR) ")
string(REGEX MATCH "INFRA_ABI_MAJOR ([0-9]+)" _ "${infra_sdk_abi_lines}")
set(INFRA_SDK_ABI_MAJOR ${CMAKE_MATCH_1})
string(REGEX MATCH "INFRA_ABI_MINOR ([0-9]+)" _ "${infra_sdk_abi_lines}")
set(INFRA_SDK_ABI_MINOR ${CMAKE_MATCH_1})

set(infra_sdk_dir ${CMAKE_CURRENT_BINARY_DIR}/sdk)
set(INFRA_SDK_CMAKE_DIR ${CMAKE_INSTALL_LIBDIR}/cmake/infra-plugin)
set(INFRA_SDK_PLUGIN_DIR ${CMAKE_INSTALL_LIBDIR}/infra/plugins)

# ------------------------------------------------------------------
# CMake package

file(WRITE ${infra_sdk_dir}/infra-pluginConfig.cmake.in [=[
# infra plugin SDK @PROJECT_VERSION@, plugin ABI @INFRA_SDK_ABI_MAJOR@.@INFRA_SDK_ABI_MINOR@.
#
#   find_package(infra-plugin REQUIRED)
#   infra_plugin_add(hello hello.c)
#
# Provides the INTERFACE target infra::plugin (the include directory of
# <infra/plugin.h>), INFRA_PLUGIN_ABI_MAJOR/MINOR, INFRA_PLUGIN_INCLUDE_DIR,
# INFRA_PLUGIN_DIR (the plugin directory of this infra installation) and
# infra_plugin_add().
@PACKAGE_INIT@

set(INFRA_PLUGIN_ABI_MAJOR @INFRA_SDK_ABI_MAJOR@)
set(INFRA_PLUGIN_ABI_MINOR @INFRA_SDK_ABI_MINOR@)
set_and_check(INFRA_PLUGIN_INCLUDE_DIR "@PACKAGE_CMAKE_INSTALL_INCLUDEDIR@")
set(INFRA_PLUGIN_DIR "@PACKAGE_INFRA_SDK_PLUGIN_DIR@")

if(NOT TARGET infra::plugin)
  add_library(infra::plugin INTERFACE IMPORTED)
  set_target_properties(infra::plugin PROPERTIES
    INTERFACE_INCLUDE_DIRECTORIES "${INFRA_PLUGIN_INCLUDE_DIR}")
endif()

# infra_plugin_add(NAME SOURCES...): the plugin NAME.so, a MODULE library
# that sees <infra/plugin.h>, is position-independent, and exports nothing
# but the entry function marked INFRA_PLUGIN_EXPORT.
function(infra_plugin_add name)
  if(NOT ARGN)
    message(FATAL_ERROR "infra_plugin_add(${name}): no source files given")
  endif()
  add_library(${name} MODULE ${ARGN})
  target_link_libraries(${name} PRIVATE infra::plugin)
  set_target_properties(${name} PROPERTIES
    PREFIX ""
    SUFFIX ".so"
    POSITION_INDEPENDENT_CODE ON
    C_VISIBILITY_PRESET hidden
    CXX_VISIBILITY_PRESET hidden
    VISIBILITY_INLINES_HIDDEN ON)
endfunction()

check_required_components(infra-plugin)
]=])

configure_package_config_file(
  ${infra_sdk_dir}/infra-pluginConfig.cmake.in
  ${infra_sdk_dir}/infra-pluginConfig.cmake
  INSTALL_DESTINATION ${INFRA_SDK_CMAKE_DIR}
  PATH_VARS CMAKE_INSTALL_INCLUDEDIR INFRA_SDK_PLUGIN_DIR)
write_basic_package_version_file(
  ${infra_sdk_dir}/infra-pluginConfigVersion.cmake
  VERSION ${PROJECT_VERSION}
  COMPATIBILITY SameMajorVersion)
install(FILES
  ${infra_sdk_dir}/infra-pluginConfig.cmake
  ${infra_sdk_dir}/infra-pluginConfigVersion.cmake
  DESTINATION ${INFRA_SDK_CMAKE_DIR})

# ------------------------------------------------------------------
# pkg-config
#
# The prefix is written at install time, so `cmake --install --prefix P`
# yields a file that points into P rather than at the configured prefix.

foreach(kind LIBDIR INCLUDEDIR)
  if(IS_ABSOLUTE "${CMAKE_INSTALL_${kind}}")
    set(INFRA_PC_${kind} "${CMAKE_INSTALL_${kind}}")
  else()
    set(INFRA_PC_${kind} "\${prefix}/${CMAKE_INSTALL_${kind}}")
  endif()
endforeach()
set(INFRA_PC_PREFIX "@INFRA_PC_PREFIX@") # kept as a placeholder for the install step
file(WRITE ${infra_sdk_dir}/infra-plugin.pc.in.in [=[
prefix=@INFRA_PC_PREFIX@
exec_prefix=${prefix}
libdir=@INFRA_PC_LIBDIR@
includedir=@INFRA_PC_INCLUDEDIR@
plugindir=${libdir}/infra/plugins
abi_major=@INFRA_SDK_ABI_MAJOR@
abi_minor=@INFRA_SDK_ABI_MINOR@

Name: infra-plugin
Description: SDK for infra plugins (the plugin ABI header, no library)
Version: @PROJECT_VERSION@
Cflags: -I${includedir}
]=])
configure_file(${infra_sdk_dir}/infra-plugin.pc.in.in ${infra_sdk_dir}/infra-plugin.pc.in @ONLY)
install(CODE "
  set(INFRA_PC_PREFIX \"\${CMAKE_INSTALL_PREFIX}\")
  configure_file(\"${infra_sdk_dir}/infra-plugin.pc.in\" \"${infra_sdk_dir}/infra-plugin.pc\" @ONLY)
")
install(FILES ${infra_sdk_dir}/infra-plugin.pc DESTINATION ${CMAKE_INSTALL_LIBDIR}/pkgconfig)
