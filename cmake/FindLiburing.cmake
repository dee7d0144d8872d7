# FindLiburing.cmake
# ------------------
# Finds liburing (the io_uring userspace library).
#
# Imported target:
#   Liburing::liburing   - include dirs + link library. The include directories are
#                          set as INTERFACE_INCLUDE_DIRECTORIES of an IMPORTED target,
#                          so consumers get them as SYSTEM includes (liburing.h is not
#                          warning-clean under -Wpedantic).
#
# Result variables:
#   Liburing_FOUND, Liburing_VERSION, Liburing_INCLUDE_DIRS, Liburing_LIBRARIES
#
# Cache variables:
#   Liburing_INCLUDE_DIR, Liburing_LIBRARY

find_package(PkgConfig QUIET)
if(PkgConfig_FOUND)
    pkg_check_modules(PC_LIBURING QUIET liburing)
endif()

find_path(Liburing_INCLUDE_DIR
    NAMES liburing.h
    HINTS ${PC_LIBURING_INCLUDEDIR} ${PC_LIBURING_INCLUDE_DIRS})
find_library(Liburing_LIBRARY
    NAMES uring liburing
    HINTS ${PC_LIBURING_LIBDIR} ${PC_LIBURING_LIBRARY_DIRS})

if(PC_LIBURING_VERSION)
    set(Liburing_VERSION "${PC_LIBURING_VERSION}")
elseif(Liburing_INCLUDE_DIR AND EXISTS "${Liburing_INCLUDE_DIR}/liburing/io_uring_version.h")
    file(STRINGS "${Liburing_INCLUDE_DIR}/liburing/io_uring_version.h" _liburing_ver_lines
        REGEX "^#define IO_URING_VERSION_(MAJOR|MINOR)")
    string(REGEX REPLACE ".*MAJOR[ \t]+([0-9]+).*" "\\1" _liburing_major "${_liburing_ver_lines}")
    string(REGEX REPLACE ".*MINOR[ \t]+([0-9]+).*" "\\1" _liburing_minor "${_liburing_ver_lines}")
    if(_liburing_major MATCHES "^[0-9]+$" AND _liburing_minor MATCHES "^[0-9]+$")
        set(Liburing_VERSION "${_liburing_major}.${_liburing_minor}")
    endif()
    unset(_liburing_ver_lines)
    unset(_liburing_major)
    unset(_liburing_minor)
endif()

include(FindPackageHandleStandardArgs)
find_package_handle_standard_args(Liburing
    REQUIRED_VARS Liburing_LIBRARY Liburing_INCLUDE_DIR
    VERSION_VAR Liburing_VERSION)

if(Liburing_FOUND)
    set(Liburing_INCLUDE_DIRS "${Liburing_INCLUDE_DIR}")
    set(Liburing_LIBRARIES "${Liburing_LIBRARY}")
    if(NOT TARGET Liburing::liburing)
        add_library(Liburing::liburing UNKNOWN IMPORTED)
        set_target_properties(Liburing::liburing PROPERTIES
            IMPORTED_LOCATION "${Liburing_LIBRARY}"
            INTERFACE_INCLUDE_DIRECTORIES "${Liburing_INCLUDE_DIR}")
    endif()
endif()

mark_as_advanced(Liburing_INCLUDE_DIR Liburing_LIBRARY)
