// MetricsHttpServer: a real socket on port 0, scraped over HTTP.
#include "common/metrics_http.h"

#include <prometheus/metric_family.h>

#include <atomic>
#include <memory>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/http_get.h"
#include "tests/testing/status_matchers.h"

namespace rib {
namespace {

using ::rib::testing::HttpGet;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;
using ::testing::Not;

// One gauge whose value is how many times it was collected.
class CountingCollectable : public prometheus::Collectable {
 public:
  std::vector<prometheus::MetricFamily> Collect() const override {
    prometheus::MetricFamily family;
    family.name = "rib_test_scrapes";
    family.help = "Scrapes so far.";
    family.type = prometheus::MetricType::Gauge;
    prometheus::ClientMetric m;
    m.label.push_back({"who", "test"});
    m.gauge.value = ++scrapes_;
    family.metric.push_back(m);
    return {family};
  }

 private:
  mutable std::atomic<int> scrapes_{0};
};

TEST(MetricsHttpServerTest, ServesTheCollectablesOnMetricsAndNothingElse) {
  RIB_ASSERT_OK_AND_ASSIGN(
      std::unique_ptr<MetricsHttpServer> server,
      MetricsHttpServer::Start("127.0.0.1:0", {std::make_shared<CountingCollectable>()}));
  ASSERT_GT(server->port(), 0);
  const std::string first = HttpGet(server->port(), "/metrics");
  EXPECT_THAT(first, HasSubstr("HTTP/1.0 200 OK"));
  EXPECT_THAT(first, HasSubstr("text/plain; version=0.0.4"));
  EXPECT_THAT(first, HasSubstr("# TYPE rib_test_scrapes gauge"));
  EXPECT_THAT(first, HasSubstr("rib_test_scrapes{who=\"test\"} 1"));
  // Collected again at every scrape.
  EXPECT_THAT(HttpGet(server->port(), "/metrics"),
              HasSubstr("rib_test_scrapes{who=\"test\"} 2"));
  const std::string other = HttpGet(server->port(), "/");
  EXPECT_THAT(other, HasSubstr("404 Not Found"));
  EXPECT_THAT(other, Not(HasSubstr("rib_test_scrapes")));
}

TEST(MetricsHttpServerTest, EveryScrapeNamesTheBuildOnceSet) {
  EXPECT_THAT(MetricsResponse({}).body, Not(HasSubstr("rib_build_info")));
  SetBuildInfoMetric({{"commit", "0123456789ab"}, {"version", "1.2.3"}});
  const std::string body = MetricsResponse({}).body;
  EXPECT_THAT(body, HasSubstr("# TYPE rib_build_info gauge"));
  EXPECT_THAT(body, HasSubstr("rib_build_info{commit=\"0123456789ab\",version=\"1.2.3\"} 1"));
}

TEST(MetricsHttpServerTest, BadAddressesAndBusyPortsAreNamed) {
  EXPECT_THAT(MetricsHttpServer::Start("9090", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("'9090'")));
  EXPECT_THAT(MetricsHttpServer::Start("127.0.0.1:99999", {}),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(MetricsHttpServer::Start("metrics.example:9090", {}),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("IPv4")));
  RIB_ASSERT_OK_AND_ASSIGN(std::unique_ptr<MetricsHttpServer> first,
                           MetricsHttpServer::Start("127.0.0.1:0", {}));
  EXPECT_THAT(
      MetricsHttpServer::Start("127.0.0.1:" + std::to_string(first->port()), {}),
      StatusIs(absl::StatusCode::kUnavailable, HasSubstr("cannot serve metrics")));
}

}  // namespace
}  // namespace rib
