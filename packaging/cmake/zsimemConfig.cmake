# find_package(zsimem): the imported target zsimem::core, the static core
# library with its public headers (docs/embedding.md). The libraries it
# links come from their Debian -dev packages.
include(CMakeFindDependencyMacro)
find_dependency(nlohmann_json 3.10)
find_dependency(SQLiteCpp)
find_dependency(SQLite3)
find_dependency(OpenSSL 3)
find_dependency(Threads)
find_dependency(PkgConfig)
pkg_check_modules(HTTPLIB REQUIRED IMPORTED_TARGET cpp-httplib)
pkg_check_modules(LIBPQ REQUIRED IMPORTED_TARGET libpq)
include(${CMAKE_CURRENT_LIST_DIR}/zsimemTargets.cmake)
