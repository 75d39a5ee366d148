#include "commands.hpp"
#include "exit_codes.hpp"
#include "progress.hpp"
#include "render.hpp"
#include "session.hpp"

#include <zsimem/error.hpp>
#include <zsimem/retention.hpp>

#include <CLI/CLI.hpp>

#include <algorithm>
#include <iostream>
#include <map>
#include <memory>

namespace zsimem::cli {
namespace {

// Calls `visit(line, number)` for each non-blank line of JSON Lines text.
template <typename Visit> void for_each_line(const std::string& text, Visit&& visit) {
  std::size_t start = 0;
  std::size_t number = 0;
  while (start < text.size()) {
    auto end = text.find('\n', start);
    if (end == std::string::npos) {
      end = text.size();
    }
    ++number;
    const std::string_view line(text.data() + start, end - start);
    if (line.find_first_not_of(" \t\r") != std::string_view::npos) {
      visit(line, number);
    }
    start = end + 1;
  }
}

[[noreturn]] void rethrow_for_line(const Error& error, std::size_t number) {
  throw Error(error.code(), "line " + std::to_string(number) + ": " + error.what(), error.field());
}

void add_users(CLI::App& app, Session& session) {
  auto* command = app.add_subcommand("users", "List the user ids that have a context");
  command->footer("Example:\n  zsimem users");
  command->callback([&session] {
    const auto users = session.service().users(session.caller());
    if (session.json_output()) {
      print_json(users);
    } else {
      for (const auto& user : users) {
        std::cout << user << '\n';
      }
    }
  });
}

void add_log(CLI::App& app, Session& session) {
  struct Args {
    std::string user;
    std::string ns;
    std::string since;
    std::string until;
    std::size_t limit = 50;
    std::uint64_t cursor = 0;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("log", "Show the audit log, newest first");
  command->add_option("--user", args->user, "Only records about this user")->type_name("USER");
  command->add_option("-n,--namespace", args->ns, "Only records about this namespace")->type_name("NS");
  command->add_option("--since", args->since, "Only records at or after TIME")->type_name("TIME");
  command->add_option("--until", args->until, "Only records at or before TIME")->type_name("TIME");
  command->add_option("--limit", args->limit, "At most this many records (1-1000)")
      ->type_name("N")
      ->capture_default_str();
  command->add_option("--cursor", args->cursor, "Continue below this record (the next_cursor printed before)")
      ->type_name("SEQ");
  command->footer("Example:\n  zsimem log --user alice --since 2026-11-29T00:00:00Z");
  command->callback([&session, args] {
    AuditQuery query;
    if (!args->user.empty()) {
      query.user_id = args->user;
    }
    if (!args->ns.empty()) {
      query.ns = args->ns;
    }
    if (!args->since.empty()) {
      query.since = parse_time(args->since, "--since");
    }
    if (!args->until.empty()) {
      query.until = parse_time(args->until, "--until");
    }
    query.limit = args->limit;
    if (args->cursor != 0) {
      query.before_seq = args->cursor;
    }
    const AuditPage page = session.service().audit_log(session.caller(), query);
    if (session.json_output()) {
      print_json(audit_page_json(page));
      return;
    }
    std::vector<std::vector<std::string>> rows{
        {"TIME", "OPERATION", "OUTCOME", "USER", "NAMESPACE", "VERSION", "ACTOR", "REQUEST_ID"}};
    for (const auto& record : page.records) {
      rows.push_back({format_rfc3339(record.time), record.operation, record.outcome, record.user_id, record.ns,
                      record.version, record.actor, record.request_id});
    }
    print_table(rows);
    if (page.next_cursor) {
      std::cout << "more: --cursor " << *page.next_cursor << '\n';
    }
  });
}

void add_verify(CLI::App& app, Session& session) {
  auto user = std::make_shared<std::string>();
  auto* command = app.add_subcommand(
      "verify", "Check the hash chains of every context and of the audit log (or one user's contexts)");
  command->add_option("user", *user, "Only this user's contexts");
  command->footer("Exits with status 9 when a chain is broken.\nExample:\n  zsimem verify alice");
  command->callback([&session, user] {
    const VerifyReport report = [&] {
      ProgressBar bar("verify", "contexts");
      return session.service().verify(
          session.caller(), user->empty() ? std::nullopt : std::optional<std::string_view>(*user), bar.callback());
    }();
    if (session.json_output()) {
      Json problems = Json::array();
      for (const auto& problem : report.problems) {
        problems.push_back(Json{{"user_id", problem.key.user_id},
                                {"namespace", problem.key.ns},
                                {"version", version_string(problem.version)},
                                {"problem", problem.problem}});
      }
      Json result{{"ok", report.ok()},
                  {"contexts", report.contexts},
                  {"versions", report.versions},
                  {"gaps", report.gaps},
                  {"problems", problems}};
      if (report.audit_checked) {
        result["audit"] = Json{{"records", report.audit_records},
                               {"problem", report.audit_problem ? Json(*report.audit_problem) : Json(nullptr)}};
      }
      print_json(result);
    } else {
      for (const auto& problem : report.problems) {
        std::cout << "BROKEN " << problem.key.user_id << " · " << problem.key.ns << " · version " << problem.version
                  << ": " << problem.problem << '\n';
      }
      if (report.audit_problem) {
        std::cout << "BROKEN audit log · " << *report.audit_problem << '\n';
      }
      if (report.audit_checked) {
        std::cout << "audit log: " << report.audit_records << " records checked\n";
      }
      std::cout << (report.ok() ? "ok: " : "FAILED: ") << report.contexts << " contexts, " << report.versions
                << " versions checked";
      if (report.gaps > 0) {
        std::cout << " across " << report.gaps << (report.gaps == 1 ? " pruned gap" : " pruned gaps");
      }
      std::cout << ", " << report.problems.size() << " broken\n";
    }
    if (!report.ok()) {
      throw CLI::RuntimeError(k_exit_verify_failed);
    }
  });
}

void add_export(CLI::App& app, Session& session) {
  auto user = std::make_shared<std::string>();
  auto* command = app.add_subcommand("export", "Write every version, with its metadata, as JSON Lines");
  command->add_option("user", *user, "Only this user's contexts");
  command->footer("Example:\n  zsimem export > backup.jsonl && zsimem --backend sqlite import < backup.jsonl");
  command->callback([&session, user] {
    ProgressBar bar("export", "versions");
    std::size_t written = 0;
    session.service().export_versions(session.caller(),
                                      user->empty() ? std::nullopt : std::optional<std::string_view>(*user),
                                      [&](const VersionRecord& record) {
                                        std::cout << version_json(record).dump() << '\n';
                                        bar.update(++written, 0);
                                      });
    std::cout.flush();
  });
}

void add_import(CLI::App& app, Session& session) {
  auto file = std::make_shared<std::string>("-");
  auto* command = app.add_subcommand("import", "Read versions written by export (lossless, any backend)");
  command->add_option("file", *file, "JSON Lines file, or - for standard input")->capture_default_str();
  command->footer("Versions already present with the same hash are skipped.\nExample:\n  zsimem import < backup.jsonl");
  command->callback([&session, file] {
    std::vector<VersionRecord> records;
    for_each_line(read_stream_argument(*file), [&](std::string_view line, std::size_t number) {
      try {
        records.push_back(version_from_json(parse_json(line, "record")));
      } catch (const Error& error) {
        rethrow_for_line(error, number);
      }
    });
    const ImportResult result = [&] {
      ProgressBar bar("import", "records");
      return session.service().import_versions(session.caller(), records, bar.callback());
    }();
    if (session.json_output()) {
      print_json(Json{{"written", result.written}, {"skipped", result.skipped}});
    } else {
      std::cout << "imported " << result.written << " versions (" << result.skipped << " already present)\n";
    }
  });
}

void add_apply(CLI::App& app, Session& session) {
  auto file = std::make_shared<std::string>();
  auto* command = app.add_subcommand(
      "apply", "Merge many MemoryUpdates from JSON Lines, in one transaction where the backend allows");
  command->add_option("file", *file, "JSON Lines of MemoryUpdate objects, or - for standard input")->required();
  command->footer("Each line: {\"user_id\": ..., \"delta\": {...}, \"tags\": [...], \"namespace\"?: ...,\n"
                  "\"expected_version\"?: ..., \"idempotency_key\"?: ...}\nExample:\n  zsimem apply updates.jsonl");
  command->callback([&session, file] {
    std::vector<MemoryUpdate> updates;
    for_each_line(read_stream_argument(*file), [&](std::string_view line, std::size_t number) {
      try {
        const Json json = parse_json(line, "update");
        updates.push_back(memory_update_from_json(json));
      } catch (const Error& error) {
        rethrow_for_line(error, number);
      }
    });
    const auto results = session.service().apply(session.caller(), updates);
    if (session.json_output()) {
      Json list = Json::array();
      for (const auto& result : results) {
        list.push_back(Json{{"outcome", to_string(result.outcome)}, {"context", user_context_json(result.record)}});
      }
      print_json(list);
      return;
    }
    std::map<std::string_view, std::size_t> counts;
    for (const auto& result : results) {
      ++counts[to_string(result.outcome)];
    }
    std::cout << "applied " << results.size() << " updates:";
    for (const auto& [outcome, count] : counts) {
      std::cout << ' ' << count << ' ' << outcome;
    }
    std::cout << '\n';
  });
}

void add_rekey(CLI::App& app, Session& session) {
  auto rotate = std::make_shared<bool>(false);
  auto* command = app.add_subcommand(
      "rekey", "Rewrap every data key onto the current (first) master key; safe while daemons serve");
  command->add_flag("--rotate-data-keys", *rotate,
                    "Also give every user a new data key: new versions are sealed with it, old ones keep theirs");
  command->footer("Master keys come from ZSIMEM_MASTER_KEY or a key file, the new key first and the old one after\n"
                  "it (docs/security.md).\nExample:\n  ZSIMEM_MASTER_KEY=\"$NEW,$OLD\" zsimem rekey");
  command->callback([&session, rotate] {
    const RekeyReport report = session.service().rekey(session.caller(), *rotate);
    if (session.json_output()) {
      print_json(Json{{"master_key_id", report.master_key_id},
                      {"data_keys", report.data_keys},
                      {"rewrapped", report.rewrapped},
                      {"rotated", report.rotated}});
    } else {
      std::cout << "rewrapped " << report.rewrapped << " of " << report.data_keys << " data keys onto master key "
                << report.master_key_id;
      if (*rotate) {
        std::cout << "; " << report.rotated << " users got a new data key";
      }
      std::cout << '\n';
    }
  });
}

void add_init(CLI::App& app, Session& session) {
  auto* command = app.add_subcommand(
      "init", "Create the store if it does not exist (a DynamoDB table); the others are created on first use");
  command->footer("Example:\n  MEMORY_BACKEND=dynamo DYNAMO_TABLE=zsi_memory_dev zsimem init");
  command->callback([&session] {
    session.create_store = true;
    const StoreConfig config = session.store_config();
    session.service();
    const auto files = file_backend_names();
    const bool keeps_files = std::find(files.begin(), files.end(), config.backend) != files.end();
    const std::string where = keeps_files ? config.data_dir.string() : config.store_name;
    if (session.json_output()) {
      print_json(Json{{"backend", config.backend}, {"store", where}});
    } else {
      std::cout << config.backend << " store " << where << " is ready\n";
    }
  });
}

void add_prune(CLI::App& app, Session& session) {
  auto user = std::make_shared<std::string>();
  auto file = std::make_shared<std::string>();
  auto dry_run = std::make_shared<bool>(false);
  auto* command = app.add_subcommand(
      "prune", "Apply the retention policies: remove the versions no rule keeps, and old audit records");
  command->add_option("user", *user, "Only this user's contexts (audit records are then left alone)");
  command->add_option("--retention", *file, "The retention file (docs/retention.md)")
      ->type_name("FILE")
      ->envname("ZSIMEM_RETENTION");
  command->add_flag("--dry-run", *dry_run, "Print what would go and what would stay; change nothing");
  command->footer("The head of a context always stays; gaps keep its hash chain verifiable (docs/retention.md).\n"
                  "Example:\n  zsimem prune --dry-run --retention /etc/zsimem/retention.json");
  command->callback([&session, user, file, dry_run] {
    if (file->empty()) {
      throw Error(ErrorCode::invalid, "no retention policy: give --retention FILE or set ZSIMEM_RETENTION",
                  "--retention");
    }
    PruneOptions options;
    options.dry_run = *dry_run;
    if (!user->empty()) {
      options.user_id = *user;
    }
    const PruneReport report = [&] {
      ProgressBar bar(*dry_run ? "prune --dry-run" : "prune", "contexts");
      options.progress = bar.callback();
      return session.service().prune(session.caller(), RetentionConfig::load(*file), options);
    }();
    if (session.json_output()) {
      print_json(prune_report_json(report));
      return;
    }
    for (const auto& context : report.contexts) {
      std::cout << context.key.user_id << " · " << context.key.ns << ": " << context.versions << " versions, "
                << context.kept.size() << " kept, " << context.pruned_versions << (*dry_run ? " to prune" : " pruned")
                << '\n';
      for (const auto& kept : context.kept) {
        std::cout << "  keep  " << kept.version << "  " << format_rfc3339(kept.updated_at) << "  "
                  << describe_keep_reasons(kept.reasons) << '\n';
      }
      for (const auto& [first, last] : context.pruned) {
        std::cout << "  prune " << first << (first == last ? "" : ".." + std::to_string(last)) << '\n';
      }
    }
    if (report.audit_through_seq) {
      std::cout << "audit log: " << report.audit_pruned << " records through seq " << *report.audit_through_seq
                << (*dry_run ? " to prune" : " pruned") << '\n';
    }
    std::cout << (*dry_run ? "dry run: would prune " : "pruned ") << report.versions_pruned << " versions in "
              << report.contexts.size() << " contexts with a retention rule\n";
  });
}

void add_features(CLI::App& app, Session& session) {
  auto* command = app.add_subcommand("features", "Show which features are on (ZSIMEM_FEATURES, --feature)");
  command->footer("Example:\n  zsimem --feature summaries=off features");
  command->callback([&session] {
    const Features features = session.service_options().features;
    if (session.json_output()) {
      print_json(features_json(features));
      return;
    }
    std::vector<std::vector<std::string>> rows{{"FEATURE", "STATE"}};
    for (const auto& [name, on] : feature_states(features)) {
      rows.push_back({std::string(name), on ? "on" : "off"});
    }
    print_table(rows);
  });
}

} // namespace

void add_store_commands(CLI::App& app, Session& session) {
  add_init(app, session);
  add_users(app, session);
  add_log(app, session);
  add_verify(app, session);
  add_export(app, session);
  add_import(app, session);
  add_apply(app, session);
  add_rekey(app, session);
  add_prune(app, session);
  add_features(app, session);
}

} // namespace zsimem::cli
