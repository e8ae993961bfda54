# Every dependency is a Debian 12 package (scripts/install-deps.sh installs them).
find_package(PkgConfig REQUIRED)
find_package(CURL REQUIRED)
find_package(OpenSSL REQUIRED)
find_package(SQLite3 REQUIRED)
find_package(ZLIB REQUIRED)  # zlib1g-dev: gzip of /metrics
find_package(tomlplusplus REQUIRED)
find_package(nlohmann_json REQUIRED)
find_package(prometheus-cpp CONFIG REQUIRED)
# libhowardhinnant-date-dev: date::date-tz is libdate-tz.so, built with USE_OS_TZDB=1 (it
# reads the system zoneinfo; the target carries that define).
find_package(date 3.0 CONFIG REQUIRED)
find_package(CLI11 CONFIG REQUIRED)  # libcli11-dev: the command line
pkg_check_modules(CARES REQUIRED IMPORTED_TARGET libcares)
# systemd integration (sd_notify, watchdog): on when libsystemd-dev is there.
pkg_check_modules(SYSTEMD IMPORTED_TARGET libsystemd)
option(MAILCANARY_SYSTEMD "Tell systemd when ready, feed its watchdog (libsystemd)" ${SYSTEMD_FOUND})
if(MAILCANARY_SYSTEMD AND NOT SYSTEMD_FOUND)
  message(FATAL_ERROR "MAILCANARY_SYSTEMD is ON but libsystemd was not found: apt-get install libsystemd-dev, or -DMAILCANARY_SYSTEMD=OFF")
endif()

# libetpan: the runtime library from libetpan20, the headers unpacked by
# scripts/install-deps.sh into .deps/ (libetpan-dev conflicts with libcurl4-openssl-dev).
# Its pkg-config file is not used: it carries a no-pie specs flag.
set(MAILCANARY_ETPAN_ROOT "${PROJECT_SOURCE_DIR}/.deps/libetpan-dev/usr" CACHE PATH
    "Folder holding include/libetpan/libetpan.h")
find_path(ETPAN_INCLUDE_DIR libetpan/libetpan.h PATHS "${MAILCANARY_ETPAN_ROOT}/include"
          NO_DEFAULT_PATH)
find_library(ETPAN_LIBRARY NAMES etpan libetpan.so.20)
if(NOT ETPAN_INCLUDE_DIR OR NOT ETPAN_LIBRARY)
  message(FATAL_ERROR "libetpan not found: run scripts/install-deps.sh (as root) first")
endif()
add_library(etpan::etpan UNKNOWN IMPORTED)
set_target_properties(etpan::etpan PROPERTIES IMPORTED_LOCATION "${ETPAN_LIBRARY}"
                      INTERFACE_INCLUDE_DIRECTORIES "${ETPAN_INCLUDE_DIR}")
