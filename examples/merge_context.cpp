// Embedding zsimem: open a store, merge a delta into a user's context, and
// print the new version as the HTTP API would (docs/embedding.md).
//
//   merge_context DATA_DIR USER DELTA     e.g. merge_context ./data alice '{"steps": 5000}'

#include <zsimem/codec.hpp>
#include <zsimem/error.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/store.hpp>

#include <iostream>

int main(int argc, char** argv) {
  if (argc != 4) {
    std::cerr << "usage: merge_context DATA_DIR USER DELTA\n";
    return 2;
  }
  try {
    zsimem::StoreConfig config;
    config.backend = "sqlite";
    config.data_dir = argv[1];
    zsimem::MemoryService service(zsimem::open_store(config));

    zsimem::MemoryUpdate update;
    update.user_id = argv[2];
    update.delta = argv[3];
    const zsimem::Caller caller{"example", zsimem::new_request_id(), {}};
    const zsimem::MergeResult result = service.merge(caller, update);
    std::cout << zsimem::user_context_json(result.record).dump() << '\n';
    return 0;
  } catch (const zsimem::Error& error) {
    std::cerr << "merge_context: " << error.what() << '\n';
    return 1;
  }
}
