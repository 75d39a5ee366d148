#include <zsimem/metrics.hpp>
#include <zsimem/store.hpp>

#include <catch2/catch.hpp>

TEST_CASE("histograms render cumulative Prometheus buckets", "[metrics]") {
  zsimem::LatencyHistogram histogram;
  histogram.observe(0.0002); // first bucket
  histogram.observe(0.003);  // le 0.005
  histogram.observe(10.0);   // only +Inf
  std::string text;
  histogram.render(text, "x", R"(k="v")");
  CHECK_THAT(text, Catch::Contains(R"(x_bucket{k="v",le="0.0005"} 1)"));
  CHECK_THAT(text, Catch::Contains(R"(x_bucket{k="v",le="0.0025"} 1)"));
  CHECK_THAT(text, Catch::Contains(R"(x_bucket{k="v",le="0.005"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(x_bucket{k="v",le="2.5"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(x_bucket{k="v",le="+Inf"} 3)"));
  CHECK_THAT(text, Catch::Contains(R"(x_count{k="v"} 3)"));
  CHECK_THAT(text, Catch::Contains(R"(x_sum{k="v"} 10.0032)"));
}

TEST_CASE("metrics escape label values", "[metrics]") {
  zsimem::Metrics metrics;
  metrics.record_request("/a\"b\\c", "GET", 200, 0.001);
  CHECK_THAT(metrics.prometheus_text({}), Catch::Contains(R"(route="/a\"b\\c")"));
}

TEST_CASE("metrics count hook deliveries by outcome, and time the attempts", "[metrics][hooks]") {
  zsimem::Metrics metrics;
  metrics.record_hook_delivery("nudges", true, 0.002);
  metrics.record_hook_delivery("nudges", true, 0.003);
  metrics.record_hook_delivery("nudges", false, 0.5);
  metrics.record_hook_dead_letter("nudges");
  const std::string text = metrics.prometheus_text({});
  CHECK_THAT(text, Catch::Contains(R"(zsimem_hook_deliveries_total{hook="nudges",outcome="delivered"} 2)"));
  CHECK_THAT(text, Catch::Contains(R"(zsimem_hook_deliveries_total{hook="nudges",outcome="failed"} 1)"));
  CHECK_THAT(text, Catch::Contains(R"(zsimem_hook_deliveries_total{hook="nudges",outcome="dead_letter"} 1)"));
  // Three attempts timed; a dead letter is no attempt of its own.
  CHECK_THAT(text, Catch::Contains(R"(zsimem_hook_delivery_duration_seconds_count{hook="nudges"} 3)"));
}
