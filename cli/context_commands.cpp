#include "commands.hpp"
#include "exit_codes.hpp"
#include "render.hpp"
#include "session.hpp"

#include <zsimem/error.hpp>

#include <CLI/CLI.hpp>

#include <iostream>
#include <memory>
#include <unistd.h>

namespace zsimem::cli {
namespace {

struct ContextArgs {
  std::string user;
  std::string ns{k_default_namespace};

  ContextKey key() const { return {user, ns}; }
};

void add_context_args(CLI::App& command, ContextArgs& args) {
  command.add_option("user", args.user, "User id")->required();
  command.add_option("-n,--namespace", args.ns, "Namespace of the context")->type_name("NS")->capture_default_str();
}

std::optional<std::uint64_t> optional_version(const std::string& text, const std::string& field) {
  if (text.empty()) {
    return std::nullopt;
  }
  return parse_version(text, field);
}

// --if-version also takes 0, meaning "the context must not exist yet".
std::optional<std::uint64_t> expected_version(const std::string& text) {
  if (text == "0") {
    return 0;
  }
  return optional_version(text, "--if-version");
}

void print_merge_result(Session& session, const MergeResult& result) {
  if (session.json_output()) {
    print_json(user_context_json(result.record));
    return;
  }
  switch (result.outcome) {
  case MergeResult::Outcome::created:
    std::cout << (result.record.rollback_of ? "rolled back: " : "merged: ") << context_heading(result.record)
              << (result.rebased ? " (rebased onto a newer head)" : "") << '\n';
    break;
  case MergeResult::Outcome::unchanged: std::cout << "unchanged: " << context_heading(result.record) << '\n'; break;
  case MergeResult::Outcome::replayed:
    std::cout << "already applied (idempotency key): " << context_heading(result.record) << '\n';
    break;
  case MergeResult::Outcome::dry_run: break;
  }
}

void add_get(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::string version;
    std::string at;
    std::string path;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("get", "Print a context: its head, one version, or as of a time");
  add_context_args(*command, *args);
  auto* version = command->add_option("--version", args->version, "Print this version")->type_name("VERSION");
  command->add_option("--at", args->at, "Print the version current at TIME (RFC 3339 or YYYY-MM-DD)")
      ->type_name("TIME")
      ->excludes(version);
  command->add_option("-p,--path", args->path, "Print only the value at this JSON pointer (e.g. /prefs/lang)")
      ->type_name("POINTER");
  command->footer("Example:\n  zsimem get alice -n prefs --at 2026-11-01");
  command->callback([&session, args] {
    ReadSelector selector;
    selector.version = optional_version(args->version, "--version");
    if (!args->at.empty()) {
      selector.at = parse_time(args->at, "--at");
    }
    if (!args->path.empty() && args->path.front() != '/') {
      throw Error(ErrorCode::invalid, "--path: '" + args->path + "' is not a JSON pointer (such as /a/b)", "--path");
    }
    const VersionRecord record = session.service().get(session.caller(), args->key(), selector);
    if (!args->path.empty()) {
      const Json data = Json::parse(record.data);
      const Json::json_pointer pointer(args->path);
      if (!data.contains(pointer)) {
        throw Error(ErrorCode::not_found,
                    "path '" + args->path + "' does not exist in version " + version_string(record.version));
      }
      const Json& value = data.at(pointer);
      // Strings print bare in text mode, for shell variables.
      if (!session.json_output() && value.is_string()) {
        std::cout << value.get<std::string>() << '\n';
      } else {
        std::cout << value.dump(session.json_output() ? -1 : 2) << '\n';
      }
      return;
    }
    if (session.json_output()) {
      print_json(user_context_json(record));
    } else {
      print_context_text(record);
    }
  });
}

void add_merge(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::string delta;
    std::vector<std::string> tags;
    std::string if_version;
    bool strict = false;
    std::string idempotency_key;
    bool dry_run = false;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("merge", "Merge a delta (a JSON merge patch) into a context");
  command->add_option("user", args->user, "User id")->required();
  command->add_option("delta", args->delta, "The delta: JSON text, @FILE, or - for standard input")->required();
  command->add_option("-n,--namespace", args->ns, "Namespace of the context")->type_name("NS")->capture_default_str();
  command->add_option("-t,--tag", args->tags, "Tag the new version (repeatable)")->type_name("TAG");
  command
      ->add_option("--if-version", args->if_version,
                   "Expect this head version (0: the context must be new); rebased when the paths it "
                   "touches did not change since")
      ->type_name("VERSION");
  command->add_flag("--strict", args->strict, "With --if-version: fail on any moved head, never rebase");
  command
      ->add_option("--idempotency-key", args->idempotency_key,
                   "Replaying the same key returns the version it first made")
      ->type_name("KEY");
  command->add_flag("--dry-run", args->dry_run, "Print the change and the version it would make; write nothing");
  command->footer("Examples:\n  zsimem merge alice '{\"diet\": {\"kcal\": 1800}}' --tag nutrition\n"
                  "  echo '{\"steps\": 9000}' | zsimem merge alice - --if-version 4");
  command->callback([&session, args] {
    MemoryUpdate update;
    update.user_id = args->user;
    update.ns = args->ns;
    update.delta = read_input_argument(args->delta, session.service().options().max_delta_bytes, "delta");
    update.tags = args->tags;
    update.expected_version = expected_version(args->if_version);
    update.strict = args->strict;
    update.idempotency_key = args->idempotency_key;
    if (args->strict && !update.expected_version) {
      throw Error(ErrorCode::invalid, "--strict needs --if-version", "--strict");
    }
    const MergeResult result = session.service().merge(session.caller(), update, args->dry_run);
    if (!args->dry_run) {
      print_merge_result(session, result);
      return;
    }
    const std::string patch = result.patch();
    const bool changes = result.record.version != 0 && patch != "[]";
    if (session.json_output()) {
      print_json(Json{{"dry_run", true},
                      {"would_create", changes},
                      {"version", version_string(result.record.version)},
                      {"patch", Json::parse(patch)},
                      {"context", user_context_json(result.record)}});
      return;
    }
    if (changes) {
      std::cout << "would create version " << version_string(result.record.version) << " of " << result.record.user_id
                << " · " << result.record.ns << '\n';
    } else {
      std::cout << "would change nothing: " << context_heading(result.record) << '\n';
    }
    print_patch_text(Json::parse(patch));
  });
}

void add_history(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::size_t limit = 20;
    std::string since;
    std::string until;
    std::string cursor;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("history", "List the versions of a context, newest first");
  add_context_args(*command, *args);
  command->add_option("--limit", args->limit, "At most this many versions (1-1000)")
      ->type_name("N")
      ->capture_default_str();
  command->add_option("--since", args->since, "Only versions at or after TIME")->type_name("TIME");
  command->add_option("--until", args->until, "Only versions at or before TIME")->type_name("TIME");
  command->add_option("--cursor", args->cursor, "Continue below this version (the next_cursor printed before)")
      ->type_name("VERSION");
  command->footer("Example:\n  zsimem history alice --since 2026-11-01 --limit 5");
  command->callback([&session, args] {
    HistoryQuery query;
    query.limit = args->limit;
    if (!args->since.empty()) {
      query.since = parse_time(args->since, "--since");
    }
    if (!args->until.empty()) {
      query.until = parse_time(args->until, "--until");
    }
    query.before_version = optional_version(args->cursor, "--cursor");
    const HistoryPage page = session.service().history(session.caller(), args->key(), query);
    if (session.json_output()) {
      print_json(history_page_json(page));
      return;
    }
    std::vector<std::vector<std::string>> rows{{"VERSION", "UPDATED_AT", "ACTOR", "TAGS", "NOTE"}};
    for (const auto& record : page.versions) {
      std::string note = record.rollback_of ? "rollback to " + version_string(*record.rollback_of) : "";
      if (record.derived_from != 0 && record.derived_from + 1 != record.version) {
        note += (note.empty() ? "" : "; ") + std::string("rebased from ") + version_string(record.derived_from);
      }
      rows.push_back({version_string(record.version), format_rfc3339(record.updated_at), record.actor,
                      join(record.tags, ","), note});
    }
    print_table(rows);
    if (page.next_cursor) {
      std::cout << "more: --cursor " << version_string(*page.next_cursor) << '\n';
    }
  });
}

void add_rollback(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::string version;
    std::string if_version;
    std::vector<std::string> tags;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("rollback", "Restore an old version's data as a new version");
  command->add_option("user", args->user, "User id")->required();
  command->add_option("version", args->version, "The version to restore")->required();
  command->add_option("-n,--namespace", args->ns, "Namespace of the context")->type_name("NS")->capture_default_str();
  command->add_option("--if-version", args->if_version, "Fail unless the head is this version")->type_name("VERSION");
  command->add_option("-t,--tag", args->tags, "Tag the new version (repeatable)")->type_name("TAG");
  command->footer("Example:\n  zsimem rollback alice 3 --if-version 7");
  command->callback([&session, args] {
    const MergeResult result =
        session.service().rollback(session.caller(), args->key(), parse_version(args->version, "version"),
                                   optional_version(args->if_version, "--if-version"), args->tags);
    print_merge_result(session, result);
  });
}

void add_diff(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::string from;
    std::string to;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("diff", "Show what changed between two versions");
  command->add_option("user", args->user, "User id")->required();
  command->add_option("from", args->from, "The older version")->required();
  command->add_option("to", args->to, "The newer version (default: the head)");
  command->add_option("-n,--namespace", args->ns, "Namespace of the context")->type_name("NS")->capture_default_str();
  command->footer("Example:\n  zsimem diff alice 3 5");
  command->callback([&session, args] {
    const DiffResult diff = session.service().diff(session.caller(), args->key(), parse_version(args->from, "from"),
                                                   optional_version(args->to, "to"));
    if (session.json_output()) {
      print_json(diff_json(args->key(), diff));
      return;
    }
    std::cout << "version " << diff.from << " → " << diff.to << '\n';
    print_patch_text(Json::parse(diff.patch));
  });
}

void add_blame(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::string path;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("blame", "Show which version, time and actor last set each field");
  command->add_option("user", args->user, "User id")->required();
  command->add_option("path", args->path, "Only fields under this JSON pointer (e.g. /diet)");
  command->add_option("-n,--namespace", args->ns, "Namespace of the context")->type_name("NS")->capture_default_str();
  command->footer("Example:\n  zsimem blame alice /diet");
  command->callback([&session, args] {
    const auto entries = session.service().blame(session.caller(), args->key(), args->path);
    if (session.json_output()) {
      print_json(blame_json(entries));
      return;
    }
    std::vector<std::vector<std::string>> rows{{"PATH", "VERSION", "UPDATED_AT", "ACTOR"}};
    for (const auto& entry : entries) {
      rows.push_back({entry.path, version_string(entry.version), format_rfc3339(entry.updated_at), entry.actor});
    }
    print_table(rows);
  });
}

void add_summary(CLI::App& app, Session& session) {
  struct Args : ContextArgs {
    std::vector<std::string> fields;
    std::string bucket = "week";
    std::vector<std::string> goals;
    std::string window;
    std::string since;
    std::string until;
    std::string as_of;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("summary", "Summarize numeric fields over time: statistics, trend, goal");
  add_context_args(*command, *args);
  command->add_option("-f,--field", args->fields, "A numeric field, as a JSON pointer (repeatable)")
      ->type_name("POINTER")
      ->required();
  command->add_option("-b,--bucket", args->bucket, "Group by day, week, month or none")
      ->type_name("BUCKET")
      ->capture_default_str();
  command->add_option("-g,--goal", args->goals, "A target for a field, as POINTER:NUMBER (repeatable)")
      ->type_name("GOAL");
  auto* window =
      command->add_option("-w,--window", args->window, "Only the DURATION (12h, 7d, 8w) before --until, --as-of or now")
          ->type_name("DURATION");
  command->add_option("--since", args->since, "Only versions from TIME on")->type_name("TIME")->excludes(window);
  command->add_option("--until", args->until, "Only versions up to TIME")->type_name("TIME");
  command->add_option("--as-of", args->as_of, "Summarize as it was at TIME: the same answer forever")
      ->type_name("TIME");
  command->footer("Example:\n  zsimem summary alice -n health -f /weight --goal /weight:70 --window 8w");
  command->callback([&session, args] {
    SummaryRequest request;
    request.fields = args->fields;
    request.bucket = parse_summary_bucket(args->bucket, "--bucket");
    request.goals = parse_summary_goals(args->goals, "--goal");
    const auto time_option = [](const std::string& text, const char* name) {
      return text.empty() ? std::nullopt : std::optional<Timestamp>(parse_time(text, name));
    };
    const SummaryRange range =
        summary_range(time_option(args->since, "--since"), time_option(args->until, "--until"),
                      args->window.empty() ? std::nullopt : std::optional(parse_duration(args->window, "--window")),
                      time_option(args->as_of, "--as-of"), now());
    const Summary summary = session.service().summary(session.caller(), args->key(), request, range.since, range.until);
    if (session.json_output()) {
      print_json(summary_json(args->key(), range, request.bucket, summary));
    } else {
      print_summary_text(args->key(), range, request.bucket, summary);
    }
  });
}

void add_delete(CLI::App& app, Session& session) {
  struct Args {
    std::string user;
    std::string ns;
    bool yes = false;
  };
  auto args = std::make_shared<Args>();
  auto* command = app.add_subcommand("delete", "Erase every version of a user, or of one namespace of it");
  command->add_option("user", args->user, "User id")->required();
  command->add_option("-n,--namespace", args->ns, "Erase only this namespace (default: all of the user's)")
      ->type_name("NS");
  command->add_flag("-y,--yes", args->yes, "Do not ask for confirmation on a terminal");
  command->footer("Example:\n  zsimem delete alice -n scratch --yes");
  command->callback([&session, args] {
    const std::optional<std::string_view> ns =
        args->ns.empty() ? std::nullopt : std::optional<std::string_view>(args->ns);
    if (!args->yes && isatty(STDIN_FILENO) != 0 && isatty(STDERR_FILENO) != 0) {
      std::cerr << "Erase every version of '" << args->user << "'"
                << (ns ? " in namespace '" + args->ns + "'" : std::string(" in all namespaces"))
                << "? This cannot be undone. [y/N] " << std::flush;
      std::string answer;
      std::getline(std::cin, answer);
      if (answer != "y" && answer != "yes") {
        throw Error(ErrorCode::invalid, "not confirmed: nothing was erased");
      }
    }
    const std::size_t removed = session.service().erase(session.caller(), args->user, ns);
    if (session.json_output()) {
      print_json(erase_json(args->user, ns, removed));
    } else {
      std::cout << "erased " << removed << " versions\n";
    }
  });
}

void add_namespaces(CLI::App& app, Session& session) {
  auto user = std::make_shared<std::string>();
  auto* command = app.add_subcommand("namespaces", "List the namespaces of a user");
  command->add_option("user", *user, "User id")->required();
  command->footer("Example:\n  zsimem namespaces alice");
  command->callback([&session, user] {
    const auto names = session.service().namespaces(session.caller(), *user);
    if (session.json_output()) {
      print_json(names);
    } else {
      for (const auto& name : names) {
        std::cout << name << '\n';
      }
    }
  });
}

} // namespace

void add_context_commands(CLI::App& app, Session& session) {
  add_get(app, session);
  add_merge(app, session);
  add_history(app, session);
  add_rollback(app, session);
  add_diff(app, session);
  add_blame(app, session);
  add_summary(app, session);
  add_delete(app, session);
  add_namespaces(app, session);
}

} // namespace zsimem::cli
