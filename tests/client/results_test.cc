// rib-test-labels: postgres
// `rib results` against a real coordinator (gRPC on port 0, real PostgreSQL): the CLI
// submits the small sweep, a scripted worker runs its two jobs through the worker API,
// and the long-format CSV and JSON hold exactly the results the worker reported.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <tuple>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "common/json_reader.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/fake_coordinator.h"
#include "tests/server/testing/pg_fixture.h"
#include "tests/server/testing/sweep_fixtures.h"
#include "tests/server/testing/test_coordinator.h"
#include "tests/server/testing/tokens.h"
#include "tests/testing/test_env.h"

namespace rib::client {
namespace {

using ::rib::client::testing::CliResult;
using ::rib::client::testing::RunRib;
using ::rib::testing::AuthContext;
using ::testing::ElementsAre;
using ::testing::HasSubstr;
namespace v1 = ::rib::v1;

auto* const kEnv =
    ::testing::AddGlobalTestEnvironment(new ::rib::testing::PgEnvironment("cli_results"));

class ResultsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ::rib::testing::TruncateAllTables();
    ::rib::testing::WriteSweepModelFiles(root_.path());
    coordinator_ = std::make_unique<::rib::testing::TestCoordinator>(root_.path());
    tokens_ = ::rib::testing::MakeTestTokens(::rib::testing::PgTestUri());
  }

  CliResult Rib(std::vector<std::string> args) {
    args.insert(args.begin(),
                {"--coordinator", coordinator_->address(), "--token", tokens_.alice});
    return RunRib(args, {{"USER", "alice"}});
  }

  // Leases `jobs` jobs (the small sweep has 2) and reports, per job, val and v2 and two
  // ImageNet-C-style subsets of fmnist-c (of 100 images each; 3 skipped on v2); a
  // fine-tuned job's first fmnist-c subset gets 10 more right per unit of its seed.
  std::string RunSweep(int jobs = 2) {
    const v1::RegisterResponse registered =
        ::rib::testing::RegisterTestWorker(coordinator_->worker.get(), tokens_.worker);
    for (int i = 0; i < jobs; ++i) {
      AuthContext actx(tokens_.worker);
      v1::AcquireJobRequest req;
      req.set_worker_id(registered.worker_id());
      req.set_free_devices(2);
      req.set_device_kind("cpu");
      req.set_wait_ms(2000);
      v1::AcquireJobResponse lease;
      EXPECT_TRUE(coordinator_->worker->AcquireJob(&actx, req, &lease).ok());
      EXPECT_TRUE(lease.has_job());
      const bool pre = lease.spec().method().kind() == "pre";
      auto event = [&] {
        v1::JobEvent e;
        e.set_job_id(lease.job_id());
        e.set_attempt(lease.attempt());
        e.set_lease_secret(lease.lease_secret());
        return e;
      };
      std::vector<v1::JobEvent> events;
      events.push_back(event());
      events.back().set_started(true);
      for (auto [dataset, subset, correct] :
           std::vector<std::tuple<std::string, std::string, int>>{
               {"fmnist-val", "", pre ? 80 : 75},
               {"fmnist-v2", "", pre ? 70 : 90},
               {"fmnist-c", "gaussian_noise/1",
                pre ? 60 : 30 + 10 * static_cast<int>(lease.spec().training().seed())},
               {"fmnist-c", "gaussian_noise/2", pre ? 40 : 50}}) {
        events.push_back(event());
        v1::Accuracy* a = events.back().mutable_result();
        a->set_dataset(dataset);
        a->set_subset(subset);
        a->set_correct(correct);
        a->set_total(100);
        if (dataset == "fmnist-v2") a->set_skipped(3);
      }
      events.push_back(event());
      events.back().mutable_finished()->set_ok(true);
      events.back().mutable_finished()->set_weights("weights/" + lease.hash() +
                                                    ".safetensors");
      if (!pre) {  // the fine-tuned job's attempt says how it ran
        v1::ReproRecord* repro = events.back().mutable_finished()->mutable_repro();
        repro->set_rib_commit("0123456789ab");
        repro->set_host("node1.lab");
        repro->set_wall_seconds(12.5);
      }
      AuthContext sctx(tokens_.worker);
      v1::ReportResultsResponse resp;
      auto writer = coordinator_->worker->ReportResults(&sctx, &resp);
      for (const auto& e : events) writer->Write(e);
      writer->WritesDone();
      const grpc::Status s = writer->Finish();
      EXPECT_TRUE(s.ok()) << s.error_message();
    }
    return registered.worker_id();
  }

  ::rib::testing::ScratchDir root_;
  std::unique_ptr<::rib::testing::TestCoordinator> coordinator_;
  ::rib::testing::TestTokens tokens_;
};

TEST_F(ResultsTest, LongFormatCsvAndJsonHoldEveryReportedResult) {
  const std::string yaml = root_.Join("small.yaml");
  std::ofstream(yaml) << ::rib::testing::kSmallSweepYaml;
  CliResult r = Rib({"submit", yaml, "-q"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string sweep = std::string(absl::StripAsciiWhitespace(r.out));

  // Before any job ran: the header alone.
  r = Rib({"results", sweep, "-o", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(r.out,
            "model,method,finetune_dataset,eval_dataset,subset,correct,total,skipped,"
            "accuracy,se,attempt,worker,job_state,job,rib_version,rib_commit,torch_version,"
            "cuda_version,host,devices,world_size,threads,intra_op_threads,"
            "inter_op_threads,blas_core,wall_seconds,train_images_per_second,"
            "eval_images_per_second\n");

  const std::string worker = RunSweep();
  r = Rib({"results", sweep, "-o", "csv"});
  ASSERT_EQ(r.code, 0) << r.err;
  std::vector<std::string> lines = absl::StrSplit(r.out, '\n', absl::SkipEmpty());
  ASSERT_EQ(lines.size(), 9u) << r.out;  // header + 2 jobs x 4 results
  // The first 12 fields (up to the job id and the reproducibility record), sorted:
  // what each (model, method, datasets, subset) row says.
  std::vector<std::string> rows;
  // The se field (the 10th) is checked against sqrt(p(1-p)/n) in the JSON below.
  for (size_t k = 1; k < lines.size(); ++k) {
    std::vector<std::string> fields = absl::StrSplit(lines[k], ',');
    ASSERT_EQ(fields.size(), 28u) << lines[k];
    fields.erase(fields.begin() + 9);
    fields.resize(12);
    rows.push_back(absl::StrJoin(fields, ","));
  }
  std::sort(rows.begin(), rows.end());
  const std::string w = "," + worker + ",succeeded";
  EXPECT_THAT(rows,
              ElementsAre("m1,ft,fmnist-v2,fmnist-c,gaussian_noise/1,30,100,0,0.3,1" + w,
                          "m1,ft,fmnist-v2,fmnist-c,gaussian_noise/2,50,100,0,0.5,1" + w,
                          "m1,ft,fmnist-v2,fmnist-v2,,90,100,3,0.9,1" + w,
                          "m1,ft,fmnist-v2,fmnist-val,,75,100,0,0.75,1" + w,
                          "m1,pre,,fmnist-c,gaussian_noise/1,60,100,0,0.6,1" + w,
                          "m1,pre,,fmnist-c,gaussian_noise/2,40,100,0,0.4,1" + w,
                          "m1,pre,,fmnist-v2,,70,100,3,0.7,1" + w,
                          "m1,pre,,fmnist-val,,80,100,0,0.8,1" + w));

  r = Rib({"results", sweep, "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->array.size(), 8u);
  double correct = 0;
  for (const JsonValue& row : json->array) {
    EXPECT_EQ(row.Get("total")->number, 100);
    EXPECT_DOUBLE_EQ(row.Get("accuracy")->number, row.Get("correct")->number / 100);
    // The binomial standard error of that accuracy, sqrt(p (1 - p) / n).
    const double p = row.Get("correct")->number / 100;
    EXPECT_NEAR(row.Get("se")->number, std::sqrt(p * (1 - p) / 100), 1e-12);
    correct += row.Get("correct")->number;
    // The ft job's record; the pre job's attempt sent none (null).
    if (row.Get("method")->text == "ft") {
      EXPECT_EQ(row.Get("rib_commit")->text, "0123456789ab");
      EXPECT_EQ(row.Get("host")->text, "node1.lab");
      EXPECT_EQ(row.Get("wall_seconds")->number, 12.5);
    } else {
      EXPECT_EQ(row.Get("rib_commit")->type, JsonValue::Type::kNull);
    }
  }
  EXPECT_EQ(correct, 80 + 70 + 60 + 40 + 75 + 90 + 30 + 50);

  r = Rib({"results", "sw-nonexistent", "-o", "csv"});
  EXPECT_EQ(r.code, kExitError);
  EXPECT_THAT(r.err, HasSubstr("NOT_FOUND"));
  EXPECT_EQ(r.out, "");
}

// A sweep with seeds through the real coordinator and PostgreSQL: every job per seed,
// the matrix as mean ± sd over seeds, and the report's figures.
//   pre (both seeds): fmnist-c = mean(.60, .40) = .50
//   ft on v2, seed 0: fmnist-c = mean(.30, .50) = .40 -> RI -.10
//   ft on v2, seed 1: fmnist-c = mean(.40, .50) = .45 -> RI -.05
//   mRI = mean -.075, sd .05 / sqrt(2) = .035355
TEST_F(ResultsTest, SeedsRunEachJobPerSeedAndTheMatrixIsTheirMeanAndSd) {
  const std::string yaml = root_.Join("seeds.yaml");
  std::ofstream(yaml) << ::rib::testing::kSmallSweepYaml << "seeds: [0, 1]\n";
  CliResult r = Rib({"submit", yaml, "-q"});
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string sweep = std::string(absl::StripAsciiWhitespace(r.out));
  RunSweep(4);

  r = Rib({"matrix", sweep, "-o", "json"});
  ASSERT_EQ(r.code, 0) << r.err;
  auto json = ParseJson(r.out);
  ASSERT_TRUE(json.ok()) << json.status();
  ASSERT_EQ(json->array.size(), 1u);
  const JsonValue& m = json->array[0];
  ASSERT_EQ(m.Get("seeds")->array.size(), 2u);
  EXPECT_EQ(m.Get("seeds")->array[1].number, 1);
  EXPECT_NEAR(m.Get("mri")->number, -0.075, 1e-6);
  EXPECT_NEAR(m.Get("mri_seed_sd")->number, 0.05 / std::sqrt(2.0), 1e-6);
  // The fine-tuned fmnist-c cell: the mean over seeds, counts summed over both seeds'
  // two subsets.
  const JsonValue& cell = m.Get("rows")->array[0].Get("cells")->array[2];
  EXPECT_NEAR(cell.Get("accuracy")->number, 0.425, 1e-6);
  EXPECT_EQ(cell.Get("total")->number, 400);

  const std::string out = root_.Join("report");
  r = Rib({"matrix", sweep, "--out", out});
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_THAT(r.out, HasSubstr("over 2 seeds (0, 1), mean \xc2\xb1 sd: mRI -7.50 \xc2\xb1 3.54"));
  std::ifstream summary(out + "/summary.md");
  const std::string text((std::istreambuf_iterator<char>(summary)),
                         std::istreambuf_iterator<char>());
  EXPECT_THAT(text, HasSubstr("| m1 | ft | 0, 1 | -7.50 \xc2\xb1 3.54 |"));
  std::ifstream bars(out + "/mean_ood_bars.svg");
  const std::string svg((std::istreambuf_iterator<char>(bars)),
                        std::istreambuf_iterator<char>());
  EXPECT_THAT(svg, HasSubstr("data-model=\"m1\" data-series=\"ft\""));
  EXPECT_TRUE(std::filesystem::exists(out + "/radar_m1_fmnist-v2.svg"));
}

}  // namespace
}  // namespace rib::client
