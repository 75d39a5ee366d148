#include "support/error_of.hpp"
#include "support/temp_dir.hpp"

#include <zsimem/error.hpp>
#include <zsimem/features.hpp>
#include <zsimem/memory_service.hpp>
#include <zsimem/policy.hpp>

#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>

using namespace zsimem;
using zsimem::testing::error_of;

TEST_CASE("features: settings switch features on and off, and bad ones change nothing", "[features]") {
  Features features;
  CHECK(feature_states(features) ==
        std::vector<std::pair<std::string_view, bool>>{
            {"hooks", true}, {"read_audit", true}, {"retention", true}, {"summaries", true}, {"versioning", true}});
  apply_feature_settings(features, "summaries=off,read_audit=false", "ZSIMEM_FEATURES");
  CHECK_FALSE(features.summaries);
  CHECK_FALSE(features.read_audit);
  apply_feature_settings(features, "summaries=on,,read_audit=1", "--feature");
  CHECK(features.summaries);
  CHECK(features.read_audit);
  apply_feature_settings(features, "", "ZSIMEM_FEATURES");
  CHECK(features.summaries);

  for (const char* bad : {"summaries", "summaries=maybe", "forecasts=on", "summaries=off,nope=off", "=on"}) {
    CAPTURE(bad);
    const Error error = error_of([&] { apply_feature_settings(features, bad, "--feature"); });
    CHECK(error.code() == ErrorCode::invalid);
    CHECK(error.field() == "--feature");
    CHECK(features.summaries); // unchanged, even by the good item before a bad one
  }
  CHECK_THAT(error_of([&] { apply_feature_settings(features, "forecasts=on", "--feature"); }).what(),
             Catch::Contains("hooks, read_audit, retention, summaries, versioning"));
}

TEST_CASE("features: summaries off is a clear error; read audit off logs writes and refusals only",
          "[features][service]") {
  const testing::TempDir dir;
  ServiceOptions options;
  options.features.summaries = false;
  options.features.read_audit = false;
  MemoryService service(open_store({std::string(file_backend_names().front()), dir.path()}), options);
  const Caller caller{"tester", "req-features"};
  MemoryUpdate update;
  update.user_id = "alice";
  update.delta = R"({"weight": 80})";
  service.merge(caller, update);

  const Error disabled = error_of([&] {
    service.summary(caller, {"alice"}, SummaryRequest{{"/weight"}, SummaryBucket::none, {}});
  });
  CHECK(disabled.code() == ErrorCode::disabled);
  CHECK_THAT(disabled.what(), Catch::Contains("summaries are switched off"));

  service.get(caller, {"alice"});
  service.history(caller, {"alice"}, {});
  CHECK(error_of([&] { service.get(caller, {"nobody"}); }).code() == ErrorCode::not_found);
  update.delta = R"({"weight": 79})";
  service.merge(caller, update);

  std::vector<std::string> operations;
  for (const auto& record : service.audit_log(caller, {}).records) {
    operations.push_back(record.operation);
  }
  // Newest first: the writes only; no get, history, summary or audit_log.
  CHECK(operations == std::vector<std::string>{"merge", "merge"});
}

TEST_CASE("features: with read audit off a read the policy refused is still audited", "[features][service]") {
  const testing::TempDir dir;
  ServiceOptions options;
  options.features.read_audit = false;
  options.policy = std::make_shared<const Policy>(Policy::parse(R"({"roles": {
      "self": [{"allow": ["read", "write"], "when": [{"equal": ["subject.sub", "resource.user_id"]}]}],
      "auditor": [{"allow": ["audit"]}]},
    "default_roles": ["self"]})",
                                                                "test"));
  MemoryService service(open_store({std::string(file_backend_names().front()), dir.path()}), options);
  const Caller alice{"alice", "req-alice", Subject{"alice", {}, {}}};
  const Caller mallory{"mallory", "req-mallory", Subject{"mallory", {}, {}}};
  MemoryUpdate update;
  update.user_id = "alice";
  update.delta = R"({"weight": 80})";
  service.merge(alice, update);
  service.get(alice, {"alice"});
  CHECK(error_of([&] { service.get(mallory, {"alice"}); }).code() == ErrorCode::denied);

  const Caller auditor{"audit", "req-audit", Subject{"audit", {"auditor"}, {}}};
  std::vector<std::pair<std::string, std::string>> logged;
  for (const auto& record : service.audit_log(auditor, {}).records) {
    logged.emplace_back(record.operation, record.outcome);
  }
  CHECK(logged == std::vector<std::pair<std::string, std::string>>{{"get", "denied"}, {"merge", "ok"}});
}
