// dist_rank_helper: a rank process for the dist tests, started through RankGroup.
//   dist_rank_helper train OUT_DIR STEPS GLOBAL_BATCH
//       joins the group, trains TinyMlp through engine::Train (init seed 100 + rank, so
//       only the trainer's broadcast makes ranks agree), saves the weights to
//       OUT_DIR/rank<N>.pt.
//   dist_rank_helper collectives OUT_DIR
//       all-reduce, broadcast (root: the last rank), barrier and count sums; writes
//       what it got to OUT_DIR/rank<N>.txt. $RIB_TEST_BACKEND picks gloo or nccl.
//   dist_rank_helper fisher OUT_DIR
//       ewc's Fisher of this rank's shard (testing::Fisher), to OUT_DIR/rank<N>.pt.
//   dist_rank_helper bn OUT_DIR
//       testing::TrainAndEvaluateBatchNorm: rank 0 saves the model to
//       OUT_DIR/model.safetensors; every rank its tensors (name order) to rank<N>.pt and
//       "correct total" of the sharded evaluation to rank<N>.txt.
//   dist_rank_helper die [RANK WORLD_SIZE]
//       after a barrier, rank 1 exits 5; the others all-reduce until that fails, print
//       the status and exit protocol::kPeerLostExitCode (UNAVAILABLE) or 4.
//       RANK/WORLD_SIZE override the environment's.
#include <torch/torch.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <string>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "tests/worker/dist/dist_test_model.h"
#include "worker/dist/process_group.h"
#include "worker/engine/collectives.h"
#include "worker/engine/methods.h"
#include "worker/engine/weights.h"
#include "worker/protocol/rank_env.h"

namespace rib::dist {
namespace {

int Fail(const absl::Status& status) {
  std::cerr << "dist_rank_helper: " << status << std::endl;
  return 1;
}

std::string Join(const torch::Tensor& t) {
  torch::Tensor c = t.cpu().to(torch::kDouble).contiguous();
  std::vector<double> v(c.data_ptr<double>(), c.data_ptr<double>() + c.numel());
  return absl::StrJoin(v, ",");
}

int Main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: dist_rank_helper train|collectives ..." << std::endl;
    return 2;
  }
  const std::string mode = argv[1];
  const auto env = protocol::ProcessEnvironment();
  absl::StatusOr<RendezvousOptions> options = RendezvousOptionsFromEnv(env);
  if (!options.ok()) return Fail(options.status());
  const int rank = options->rank;

  if (mode == "die" && argc >= 4) {
    // Joins as rank argv[2] of argv[3] instead (the test process is the other rank).
    if (!absl::SimpleAtoi(argv[2], &options->rank) ||
        !absl::SimpleAtoi(argv[3], &options->world_size)) {
      return 2;
    }
  }
  // RIB_TEST_BACKEND: "gloo" (default) or "nccl" (the cuda test).
  options->backend = env.count("RIB_TEST_BACKEND") ? env.at("RIB_TEST_BACKEND") : "gloo";
  options->timeout = absl::Seconds(20);
  options->operation_timeout = absl::Seconds(20);
  absl::StatusOr<std::unique_ptr<ProcessGroup>> group = CreateProcessGroup(*options);
  if (!group.ok()) return Fail(group.status());

  if (mode == "train" && argc >= 5) {
    testing::TrainOptions train;
    train.init_seed = 100 + rank;
    if (!absl::SimpleAtoi(argv[3], &train.steps) ||
        !absl::SimpleAtoi(argv[4], &train.global_batch)) {
      return 2;
    }
    absl::StatusOr<std::vector<torch::Tensor>> weights = testing::Train(train, **group);
    if (!weights.ok()) return Fail(weights.status());
    torch::save(*weights, absl::StrCat(argv[2], "/rank", rank, ".pt"));
    return 0;
  }
  if (mode == "fisher" && argc >= 3) {
    absl::StatusOr<std::vector<torch::Tensor>> fisher = testing::Fisher(group->get());
    if (!fisher.ok()) return Fail(fisher.status());
    torch::save(*fisher, absl::StrCat(argv[2], "/rank", rank, ".pt"));
    return 0;
  }
  if (mode == "bn" && argc >= 3) {
    absl::StatusOr<testing::BnRun> run = testing::TrainAndEvaluateBatchNorm(group->get());
    if (!run.ok()) return Fail(run.status());
    if (rank == 0) {
      // The saved model, as the runner saves a job's weights.
      absl::Status saved =
          engine::SaveClassifier(run->model, absl::StrCat(argv[2], "/model.safetensors"),
                                 {{"arch", "fmnist_resnet"}});
      if (!saved.ok()) return Fail(saved);
    }
    std::vector<torch::Tensor> state;  // every tensor, in name order
    for (const auto& [name, t] : engine::ModelWeights(*run->model)) state.push_back(t);
    torch::save(state, absl::StrCat(argv[2], "/rank", rank, ".pt"));
    std::ofstream out(absl::StrCat(argv[2], "/rank", rank, ".txt"));
    out << run->correct << " " << run->total << "\n";
    return out.good() ? 0 : 1;
  }
  if (mode == "die") {
    // Rank 1 leaves after the barrier; the others all-reduce until the loss of their
    // peer surfaces as an error, which they print.
    ProcessGroup& g = **group;
    if (absl::Status s = g.Barrier(); !s.ok()) return Fail(s);
    if (g.rank() == 1) {
      std::cerr << "rank 1: leaving without a word" << std::endl;
      return 5;
    }
    for (int i = 0; i < 1000; ++i) {
      std::vector<torch::Tensor> t{torch::ones({4})};
      if (absl::Status s = g.AllReduceSum(t); !s.ok()) {
        std::cerr << "rank " << g.rank() << ": all-reduce failed: " << s << std::endl;
        return absl::IsUnavailable(s) ? protocol::kPeerLostExitCode : 4;
      }
    }
    return 0;
  }
  if (mode == "collectives" && argc >= 3) {
    ProcessGroup& g = **group;
    const double r = rank;
    const torch::Device device = g.device();
    std::vector<torch::Tensor> reduce{
        torch::tensor({r + 1, 10 * (r + 1)}).to(device),
        torch::full({2, 2}, r, torch::kInt64).to(device),
        // non-contiguous: every other element of 6
        torch::arange(6, torch::kFloat).mul(r + 1).to(device).slice(0, 0, 6, 2)};
    if (absl::Status s = g.AllReduceSum(reduce); !s.ok()) return Fail(s);
    std::vector<torch::Tensor> bcast{torch::full({3}, 100 + r).to(device),
                                     torch::full({1}, r, torch::kInt64).to(device)};
    if (absl::Status s = g.Broadcast(bcast, /*root=*/g.size() - 1); !s.ok())
      return Fail(s);
    if (absl::Status s = g.Barrier(); !s.ok()) return Fail(s);
    // Evaluation counts are summed as the engine sums them (a CPU int64 tensor).
    torch::Tensor count_tensor =
        torch::tensor({int64_t{rank}, int64_t{1}, int64_t{1000}});
    if (absl::Status s = engine::AllReduceSum(&g, {count_tensor}); !s.ok())
      return Fail(s);
    std::vector<int64_t> counts(count_tensor.data_ptr<int64_t>(),
                                count_tensor.data_ptr<int64_t>() + count_tensor.numel());
    std::ofstream out(absl::StrCat(argv[2], "/rank", rank, ".txt"));
    out << "sum0=" << Join(reduce[0]) << "\n"
        << "sum1=" << Join(reduce[1]) << "\n"
        << "sum2=" << Join(reduce[2]) << "\n"
        << "bcast0=" << Join(bcast[0]) << "\n"
        << "bcast1=" << Join(bcast[1]) << "\n"
        << "counts=" << absl::StrJoin(counts, ",") << "\n";
    return out.good() ? 0 : 1;
  }
  std::cerr << "dist_rank_helper: bad arguments for mode " << mode << std::endl;
  return 2;
}

}  // namespace
}  // namespace rib::dist

int main(int argc, char** argv) { return rib::dist::Main(argc, argv); }
