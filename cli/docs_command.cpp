#include "commands.hpp"

#include <CLI/CLI.hpp>

namespace zsimem::cli {

void add_docs_command(CLI::App&) {}

} // namespace zsimem::cli
