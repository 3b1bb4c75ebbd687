#include "worker/engine/trainer.h"

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <deque>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>

#include "absl/strings/str_cat.h"
#include "common/log.h"
#include "common/status_macros.h"
#include "worker/engine/checkpoint.h"
#include "worker/engine/collectives.h"
#include "worker/engine/precision.h"
#include "worker/engine/schedule.h"
#include "worker/engine/torch_errors.h"

namespace rib::engine {
namespace {

// The key torch::optim keeps a parameter's state under (its TensorImpl address).
std::string StateKey(const torch::Tensor& p) {
  return c10::guts::to_string(p.unsafeGetTensorImpl());
}

// The optimiser named by config.optimizer: "sgd" (momentum, coupled weight decay) or
// "adamw" (Loshchilov & Hutter; betas 0.9/0.999, decoupled weight decay).
absl::StatusOr<std::unique_ptr<torch::optim::Optimizer>> MakeOptimizer(
    const TrainingConfig& config, const std::vector<torch::Tensor>& params) {
  if (config.optimizer == "sgd") {
    return std::unique_ptr<torch::optim::Optimizer>(
        new torch::optim::SGD(params, torch::optim::SGDOptions(config.lr)
                                          .momentum(config.momentum)
                                          .weight_decay(config.weight_decay)));
  }
  if (config.optimizer == "adamw") {
    return std::unique_ptr<torch::optim::Optimizer>(new torch::optim::AdamW(
        params, torch::optim::AdamWOptions(config.lr).weight_decay(config.weight_decay)));
  }
  return absl::InvalidArgumentError(
      absl::StrCat("unknown optimizer '", config.optimizer, "' (expected sgd or adamw)"));
}

// Optimiser state of one trainable tensor as checkpoint entries "<kind>/<name>":
// momentum (sgd); adam_step, exp_avg, exp_avg_sq (adamw).
void ExportOptimizerState(torch::optim::Optimizer& optimizer, const std::string& name,
                          const torch::Tensor& p, TensorMap* map) {
  auto& states = optimizer.state();
  auto it = states.find(StateKey(p));
  if (it == states.end()) return;
  if (auto* sgd = dynamic_cast<torch::optim::SGDParamState*>(it->second.get())) {
    if (sgd->momentum_buffer().defined())
      (*map)["momentum/" + name] = sgd->momentum_buffer();
  } else if (auto* adam =
                 dynamic_cast<torch::optim::AdamWParamState*>(it->second.get())) {
    (*map)["adam_step/" + name] = torch::tensor(adam->step(), torch::kLong);
    (*map)["exp_avg/" + name] = adam->exp_avg();
    (*map)["exp_avg_sq/" + name] = adam->exp_avg_sq();
  }
}

void ImportOptimizerState(const TensorMap& map, const std::string& name,
                          const torch::Tensor& p, torch::optim::Optimizer& optimizer) {
  auto find = [&](const std::string& kind) -> const torch::Tensor* {
    auto it = map.find(kind + "/" + name);
    return it == map.end() ? nullptr : &it->second;
  };
  auto on_device = [&](const torch::Tensor& t) { return t.to(p.device()).clone(); };
  if (dynamic_cast<torch::optim::SGD*>(&optimizer) != nullptr) {
    const torch::Tensor* momentum = find("momentum");
    if (momentum == nullptr) return;
    auto state = std::make_unique<torch::optim::SGDParamState>();
    state->momentum_buffer(on_device(*momentum));
    optimizer.state()[StateKey(p)] = std::move(state);
  } else {
    const torch::Tensor* step = find("adam_step");
    const torch::Tensor* exp_avg = find("exp_avg");
    const torch::Tensor* exp_avg_sq = find("exp_avg_sq");
    if (step == nullptr || exp_avg == nullptr || exp_avg_sq == nullptr) return;
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(step->item<int64_t>());
    state->exp_avg(on_device(*exp_avg));
    state->exp_avg_sq(on_device(*exp_avg_sq));
    optimizer.state()[StateKey(p)] = std::move(state);
  }
}

// `path` made absolute against the working directory (as given if that fails).
std::string AbsolutePath(const std::string& path) {
  std::error_code ec;
  std::filesystem::path absolute = std::filesystem::absolute(path, ec);
  return ec ? path : absolute.string();
}

// Where a checkpoint puts the run: `step` optimiser steps done in all, `epoch` epochs
// complete, and `epoch_step` steps done into the next one (0 at an epoch boundary).
struct Position {
  int64_t step = 0;
  int epoch = 0;
  int64_t epoch_step = 0;
};

// torch's default generators, which dropout and other in-model draws use: the CPU one,
// and each CUDA device's when training on CUDA (none on a CPU-only build, where
// device_count() is 0).
void SaveGenerators(torch::Device device, TensorMap* map) {
  {
    at::Generator gen = at::globalContext().defaultGenerator(torch::kCPU);
    std::lock_guard<std::mutex> lock(gen.mutex());
    (*map)["rng/cpu"] = gen.get_state();
  }
  if (!device.is_cuda()) return;
  for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i) {
    at::Generator gen = at::globalContext().defaultGenerator(
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(gen.mutex());
    (*map)[absl::StrCat("rng/cuda/", i)] = gen.get_state();
  }
}

absl::Status RestoreGenerators(const std::string& path, const TensorMap& map,
                               torch::Device device) {
  auto cpu = map.find("rng/cpu");
  if (cpu == map.end()) {
    return absl::FailedPreconditionError(
        absl::StrCat("checkpoint ", path, " is mid-epoch but has no 'rng/cpu'"));
  }
  {
    at::Generator gen = at::globalContext().defaultGenerator(torch::kCPU);
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(cpu->second);
  }
  if (!device.is_cuda()) return absl::OkStatus();
  for (int64_t i = 0; i < static_cast<int64_t>(torch::cuda::device_count()); ++i) {
    auto it = map.find(absl::StrCat("rng/cuda/", i));
    if (it == map.end()) continue;  // written on fewer devices: that one was not drawn
    at::Generator gen = at::globalContext().defaultGenerator(
        torch::Device(torch::kCUDA, static_cast<c10::DeviceIndex>(i)));
    std::lock_guard<std::mutex> lock(gen.mutex());
    gen.set_state(it->second);
  }
  return absl::OkStatus();
}

// At an epoch boundary the format is the one from before mid-epoch checkpoints existed
// (per-epoch seeding restores the generators). A mid-epoch checkpoint records the epoch
// in progress as meta/epoch with meta/epoch_step and the generators' state, and no
// meta/epochs_done: code that predates it refuses it (FAILED_PRECONDITION) instead of
// restarting the epoch with the step counter advanced.
absl::Status SaveCheckpoint(const std::string& path, const TrainSetup& setup,
                            torch::optim::Optimizer& optimizer, const Position& at,
                            int64_t total_steps, const LossScaler& scaler,
                            torch::Device device) {
  TensorMap map;
  for (const auto& [name, t] : setup.state) map["state/" + name] = t;
  for (const auto& [name, p] : setup.trainable)
    ExportOptimizerState(optimizer, name, p, &map);
  map["meta/step"] = torch::tensor(at.step, torch::kLong);
  const torch::Tensor epoch = torch::tensor(static_cast<int64_t>(at.epoch), torch::kLong);
  if (at.epoch_step == 0) {
    map["meta/epochs_done"] = epoch;
  } else {
    map["meta/epoch"] = epoch;
    map["meta/epoch_step"] = torch::tensor(at.epoch_step, torch::kLong);
    SaveGenerators(device, &map);
  }
  map["meta/total_steps"] = torch::tensor(total_steps, torch::kLong);
  map["meta/loss_scale"] = torch::tensor(scaler.scale(), torch::kDouble);
  map["meta/good_steps"] = torch::tensor(scaler.good_steps(), torch::kLong);
  return WriteCheckpointFile(path, map);
}

// Restores the setup's tensors, the optimiser and the loss scaler from `map`, the
// contents of checkpoint `path`; the generators are restored by the loop once it has
// re-created the epoch's stream (`generators` is the checkpoint's map, to pass to
// RestoreGenerators).
absl::Status LoadCheckpoint(const std::string& path, const TensorMap& map,
                            const TrainSetup& setup, torch::optim::Optimizer& optimizer,
                            int64_t total_steps, Position* at, LossScaler* scaler,
                            TensorMap* generators) {
  auto get = [&](const std::string& key) -> absl::StatusOr<torch::Tensor> {
    auto it = map.find(key);
    if (it == map.end()) {
      return absl::FailedPreconditionError(
          absl::StrCat("checkpoint ", path, " has no '", key, "'"));
    }
    return it->second;
  };
  RIB_ASSIGN_OR_RETURN(torch::Tensor saved_total, get("meta/total_steps"));
  if (saved_total.item<int64_t>() != total_steps) {
    return absl::FailedPreconditionError(absl::StrCat(
        "checkpoint ", path, " is for a run of ", saved_total.item<int64_t>(),
        " steps, this run has ", total_steps));
  }
  torch::NoGradGuard no_grad;
  for (const auto& [name, t] : setup.state) {
    RIB_ASSIGN_OR_RETURN(torch::Tensor saved, get("state/" + name));
    if (saved.sizes() != t.sizes()) {
      return absl::FailedPreconditionError(absl::StrCat(
          "checkpoint ", path, ": '", name, "' has shape ", c10::str(saved.sizes()),
          ", the model has ", c10::str(t.sizes())));
    }
    t.copy_(saved);
  }
  for (const auto& [name, p] : setup.trainable)
    ImportOptimizerState(map, name, p, optimizer);
  RIB_ASSIGN_OR_RETURN(torch::Tensor s, get("meta/step"));
  RIB_ASSIGN_OR_RETURN(torch::Tensor scale, get("meta/loss_scale"));
  RIB_ASSIGN_OR_RETURN(torch::Tensor good, get("meta/good_steps"));
  at->step = s.item<int64_t>();
  if (map.count("meta/epochs_done")) {
    at->epoch = static_cast<int>(map.at("meta/epochs_done").item<int64_t>());
    at->epoch_step = 0;
  } else {
    RIB_ASSIGN_OR_RETURN(torch::Tensor e, get("meta/epoch"));
    RIB_ASSIGN_OR_RETURN(torch::Tensor k, get("meta/epoch_step"));
    at->epoch = static_cast<int>(e.item<int64_t>());
    at->epoch_step = k.item<int64_t>();
    for (const auto& [key, t] : map) {
      if (key.rfind("rng/", 0) == 0) (*generators)[key] = t;
    }
  }
  scaler->Restore(scale.item<double>(), good.item<int64_t>());
  return absl::OkStatus();
}

// How many of its own checkpoints a run keeps on disk (write_checkpoint in Train).
constexpr size_t kKeptCheckpoints = 2;

// The checkpoints to try resuming from, best first: `requested`, then the other
// checkpoints in its folder (regular files named *.ckpt, not symbolic links: the folder
// is the job's attempt's own, and the run keeps its previous checkpoint beside the
// newest), newest first by modification time.
std::vector<std::string> ResumeCandidates(const std::string& requested) {
  std::vector<std::string> candidates = {requested};
  const std::filesystem::path folder = std::filesystem::path(requested).parent_path();
  std::error_code ec;
  std::vector<std::pair<std::filesystem::file_time_type, std::string>> others;
  for (std::filesystem::directory_iterator it(folder.empty() ? "." : folder, ec), end;
       !ec && it != end; it.increment(ec)) {
    const std::filesystem::path& p = it->path();
    std::error_code type_ec;
    if (p.extension() != ".ckpt" || !it->is_regular_file(type_ec) ||
        it->is_symlink(type_ec) ||
        p.filename() == std::filesystem::path(requested).filename()) {
      continue;
    }
    const auto mtime = std::filesystem::last_write_time(p, type_ec);
    if (!type_ec) others.emplace_back(mtime, p.string());
  }
  std::sort(others.begin(), others.end(), std::greater<>());
  for (auto& [mtime, path] : others) candidates.push_back(std::move(path));
  return candidates;
}

// Rank 0's outcome of writing a checkpoint, made every rank's: other ranks return only
// once the file is in place, or with rank 0's error code. One tiny broadcast, only when
// the run stops.
absl::Status ShareWriteStatus(dist::ProcessGroup* group, const absl::Status& written,
                              const std::string& path) {
  torch::Tensor code = torch::tensor(static_cast<int64_t>(written.code()), torch::kLong);
  RIB_RETURN_IF_ERROR(Broadcast(group, {code}, /*root=*/0));
  if (GroupRank(group) == 0) return written;
  const auto rank0 = static_cast<absl::StatusCode>(code.item<int64_t>());
  if (rank0 == absl::StatusCode::kOk) return absl::OkStatus();
  return absl::Status(rank0, absl::StrCat("rank 0 could not write checkpoint ", path,
                                          " (its log has the reason)"));
}

}  // namespace

int64_t TotalSteps(const TrainingConfig& config, int64_t steps_per_epoch) {
  int64_t total = static_cast<int64_t>(config.epochs) * steps_per_epoch;
  if (config.max_steps > 0) total = std::min<int64_t>(total, config.max_steps);
  return total;
}

absl::StatusOr<TrainSummary> Train(const TrainSetup& setup, TrainData& data,
                                   const TrainOptions& options, EventSink* sink) {
  const TrainingConfig& config = options.config;
  if (setup.trainable.empty()) {
    return absl::InvalidArgumentError("nothing to train: the method froze every parameter");
  }
  if (config.epochs <= 0) {
    return absl::InvalidArgumentError(absl::StrCat("epochs must be > 0, got ", config.epochs));
  }
  const int64_t steps_per_epoch = data.steps_per_epoch();
  if (steps_per_epoch <= 0) {
    return absl::InvalidArgumentError("the training set yields no batch");
  }
  ScheduleOptions schedule{config.lr, config.warmup_steps,
                           TotalSteps(config, steps_per_epoch), config.schedule};
  RIB_RETURN_IF_ERROR(ValidateSchedule(schedule));
  const int64_t total_steps = schedule.total_steps;

  // Precision (precision.h): fp32 on CPU; autocast on CUDA, fp16 with loss scaling.
  RIB_ASSIGN_OR_RETURN(const Precision precision,
                       ResolvePrecision(config.precision, options.device));
  LossScaler scaler(precision.loss_scaling);

  std::vector<torch::Tensor> params;
  for (const auto& [name, p] : setup.trainable) params.push_back(p);
  RIB_ASSIGN_OR_RETURN(std::unique_ptr<torch::optim::Optimizer> optimizer_owner,
                       MakeOptimizer(config, params));
  torch::optim::Optimizer& optimizer = *optimizer_owner;

  Position start;
  TensorMap generators;  // a mid-epoch checkpoint's generator state
  // Absolute paths: the sink forwards them to a coordinator, which may resume the job
  // in another working directory.
  std::string latest_checkpoint;
  // The checkpoint actually resumed from ("" = from scratch): the requested one, or when
  // that cannot be read an older one beside it (ResumeCandidates).
  std::string resumed_from;
  TrainSummary summary;
  if (!options.resume_checkpoint.empty()) {
    for (const std::string& candidate : ResumeCandidates(options.resume_checkpoint)) {
      absl::StatusOr<TensorMap> map = ReadCheckpointFile(candidate);
      if (!map.ok()) {
        // Unreadable (missing, truncated, damaged): never fatal, the next candidate or a
        // fresh start only costs time. Nothing was changed yet.
        RIB_LOG(WARNING) << "cannot resume from checkpoint " << candidate << ": "
                         << map.status().message();
        absl::StrAppend(&summary.resume_problem,
                        summary.resume_problem.empty() ? "" : "; ", candidate, ": ",
                        map.status().message());
        continue;
      }
      // A readable checkpoint that does not fit this run is an error, not damage.
      RIB_RETURN_IF_ERROR(LoadCheckpoint(candidate, *map, setup, optimizer, total_steps,
                                         &start, &scaler, &generators));
      if (start.epoch_step >= steps_per_epoch) {
        return absl::FailedPreconditionError(absl::StrCat(
            "checkpoint ", candidate, " is ", start.epoch_step, " steps into epoch ",
            start.epoch + 1, ", which has ", steps_per_epoch));
      }
      resumed_from = candidate;
      summary.resumed_from = candidate;
      break;
    }
    if (resumed_from.empty()) {
      RIB_LOG(WARNING) << "no usable checkpoint to resume from (asked for "
                       << options.resume_checkpoint
                       << "): training starts from scratch, at step 0";
    } else {
      latest_checkpoint = AbsolutePath(resumed_from);
      RIB_LOG(INFO) << "resumed from " << resumed_from << " at step " << start.step
                    << " (epoch " << start.epoch + 1 << ", step " << start.epoch_step
                    << " of it)";
    }
  }
  const std::string checkpoint_dir =
      options.checkpoint_dir.empty() ? "" : AbsolutePath(options.checkpoint_dir);
  const bool writes_checkpoints =
      !checkpoint_dir.empty() && GroupRank(options.group) == 0;
  // The state the optimiser does not update: frozen weights and buffers.
  std::vector<torch::Tensor> untrained_state;
  {
    std::set<const c10::TensorImpl*> trained;
    for (const auto& p : params) trained.insert(p.unsafeGetTensorImpl());
    for (const auto& [name, t] : setup.state) {
      if (!trained.count(t.unsafeGetTensorImpl())) untrained_state.push_back(t.detach());
    }
  }
  std::vector<torch::Tensor> buffers;
  for (const auto& [name, t] : setup.buffers) buffers.push_back(t.detach());
  {
    // Every rank starts from rank 0's weights (and, after a resume, its state).
    std::vector<torch::Tensor> state;
    for (const auto& [name, t] : setup.state) state.push_back(t.detach());
    RIB_RETURN_IF_ERROR(Broadcast(options.group, state, /*root=*/0));
  }

  int64_t step = start.step;
  int epochs_done = start.epoch;
  double window_loss = 0.0;
  int64_t window_steps = 0;
  // The checkpoints this call wrote and still keeps, oldest first (at most two).
  std::deque<std::string> kept_checkpoints;
  // Rank 0 writes `path`, reports it, and only then removes the one written before the
  // previous (keeping the last two): the report of `path` goes to the coordinator
  // asynchronously and may be lost (an outage, the worker killed at that moment), so
  // the one before, which the coordinator may still hold as the job's checkpoint, stays.
  auto write_checkpoint = [&](const std::string& path,
                              const Position& at) -> absl::Status {
    if (!writes_checkpoints) return absl::OkStatus();
    RIB_RETURN_IF_ERROR(
        SaveCheckpoint(path, setup, optimizer, at, total_steps, scaler, options.device));
    if (sink != nullptr) sink->OnCheckpoint(path);
    kept_checkpoints.push_back(path);
    while (kept_checkpoints.size() > kKeptCheckpoints) {
      std::remove(kept_checkpoints.front().c_str());
      kept_checkpoints.pop_front();
    }
    return absl::OkStatus();
  };
  auto report_window = [&](int epoch, double lr) {
    if (window_steps == 0) return;
    summary.last_loss = window_loss / window_steps;
    if (sink != nullptr) {
      sink->OnProgress(epoch, config.epochs, step, total_steps, summary.last_loss, lr);
    }
    window_loss = 0.0, window_steps = 0;
  };
  bool stop = false;  // some rank asked to stop (the same on every rank)
  for (int epoch = epochs_done; epoch < config.epochs && step < total_steps; ++epoch) {
    // Per-epoch seeding makes a resumed run draw the same random numbers.
    torch::manual_seed(static_cast<uint64_t>(config.seed) * 1000003ULL + epoch);
    if (setup.set_mode) setup.set_mode();
    RIB_ASSIGN_OR_RETURN(std::unique_ptr<BatchStream> stream, data.Epoch(epoch));
    int64_t epoch_step = 0;  // batches of this epoch consumed
    double lr = 0.0;
    Batch batch;
    if (epoch == start.epoch && start.epoch_step > 0) {
      // Resuming mid-epoch: the batches already trained on are read and dropped, then
      // the generators continue where the stopped run left them.
      for (; epoch_step < start.epoch_step; ++epoch_step) {
        RIB_ASSIGN_OR_RETURN(bool more, stream->Next(&batch));
        if (sink != nullptr) sink->OnAlive();
        if (!more) {
          return absl::FailedPreconditionError(absl::StrCat(
              "checkpoint ", resumed_from, " is ", start.epoch_step, " steps into epoch ",
              epoch + 1, ", which yields ", epoch_step, " batches"));
        }
      }
      RIB_RETURN_IF_ERROR(RestoreGenerators(resumed_from, generators, options.device));
    }
    while (step < total_steps) {
      RIB_ASSIGN_OR_RETURN(bool more, stream->Next(&batch));
      if (!more) break;
      lr = LearningRateAt(schedule, step);
      for (auto& group : optimizer.param_groups()) group.options().set_lr(lr);
      batch.images = batch.images.to(options.device);
      batch.labels = batch.labels.to(options.device);
      optimizer.zero_grad();
      // DDP's broadcast_buffers: the forward pass starts from rank 0's statistics on
      // every rank (each rank then updates them with its own shard's batch).
      RIB_RETURN_IF_ERROR(Broadcast(options.group, buffers, /*root=*/0));
      const int64_t local_n = batch.images.size(0);
      // A throw inside the step (a shape mismatch, out of memory) becomes a status
      // naming the step; RunJob's boundary adds the job (torch_errors.h).
      try {
        torch::Tensor loss;
        if (local_n > 0) {
          AutocastScope scope(precision);
          loss = setup.loss(batch);
        }
        // [Σ loss·n, Σ n, ranks asking to stop] over ranks: the global mean loss and the
        // stop decision, identical on every rank so every rank takes the same branches
        // below and stops after the same step.
        torch::Tensor reported = torch::zeros({3}, torch::kDouble);
        if (local_n > 0) {
          reported[0] = loss.detach().to(torch::kDouble).cpu().item<double>() * local_n;
          reported[1] = static_cast<double>(local_n);
        }
        if (options.stop != nullptr && options.stop->load()) reported[2] = 1.0;
        RIB_RETURN_IF_ERROR(AllReduceSum(options.group, {reported}));
        const double global_n = reported[1].item<double>();
        const double value = reported[0].item<double>() / std::max(1.0, global_n);
        stop = reported[2].item<double>() > 0.0;
        if (!std::isfinite(value)) {
          return absl::InvalidArgumentError(absl::StrCat(
              "non-finite training loss (", value, ") at step ", step + 1, " of ",
              total_steps, " (epoch ", epoch + 1, ", lr ", lr, ")"));
        }
        if (local_n > 0) {
          // Shards may differ in size: weight each rank's mean so that averaging the
          // gradients gives the gradient of the global mean (no-op with one rank).
          if (GroupSize(options.group) > 1) {
            loss = loss * (local_n * GroupSize(options.group) / global_n);
          }
          scaler.Scale(loss).backward();
        }
        RIB_RETURN_IF_ERROR(
            AllReduceGradients(options.group, params, options.bucket_bytes));
        if (scaler.UnscaleAndCheck(params)) {
          optimizer.step();
          if (setup.after_step) {
            torch::NoGradGuard no_grad;
            setup.after_step(lr);
          }
        }
        window_loss += value;
        ++window_steps;
      } catch (const std::exception& e) {
        return ExceptionToStatus(
            e, absl::StrCat("training step ", step + 1, " of ", total_steps, " (epoch ",
                            epoch + 1, ")"));
      }
      ++step;
      ++epoch_step;
      if (sink != nullptr) sink->OnAlive();
      if (sink != nullptr && step % options.progress_every == 0) report_window(epoch, lr);
      if (stop) break;
    }
    report_window(epoch, lr);
    if (stop && epoch_step < steps_per_epoch && step < total_steps) {
      // Stopped within the epoch: checkpoint this step boundary as it is (batch-norm
      // buffers are rank 0's, as saved at an epoch's end; the other ranks' own ones are
      // replaced by them on resume and do not enter the trained weights).
      const std::string path =
          checkpoint_dir.empty() ? ""
                                 : absl::StrCat(checkpoint_dir, "/step-", step, ".ckpt");
      absl::Status written = write_checkpoint(path, Position{step, epoch, epoch_step});
      RIB_RETURN_IF_ERROR(ShareWriteStatus(options.group, written, path));
      if (!path.empty()) latest_checkpoint = path;
      RIB_LOG(INFO) << "stopped on request after step " << step << " of " << total_steps
                    << " (epoch " << epoch + 1 << ", step " << epoch_step << " of "
                    << steps_per_epoch << ")";
      summary.stopped = true;
      break;
    }
    // The last step's forward pass moved each rank's buffers with its own shard; rank
    // 0's are the ones saved, so every rank takes them and evaluates the saved model
    // (and setups without TrainSetup::buffers get them here). The trainable tensors are
    // already in step (same averaged gradients on the same weights).
    RIB_RETURN_IF_ERROR(Broadcast(options.group, untrained_state, /*root=*/0));
    epochs_done = epoch + 1;
    absl::Status written;
    std::string path;
    if (!checkpoint_dir.empty()) {
      path = absl::StrCat(checkpoint_dir, "/epoch-", epochs_done, ".ckpt");
      written = write_checkpoint(path, Position{step, epochs_done, 0});
    }
    // On a stop every rank waits for rank 0's write, as within an epoch.
    RIB_RETURN_IF_ERROR(stop ? ShareWriteStatus(options.group, written, path) : written);
    if (!path.empty()) latest_checkpoint = path;
    // Stopped at the epoch's last step: its checkpoint is the one to resume from.
    if (stop && epochs_done < config.epochs && step < total_steps) {
      RIB_LOG(INFO) << "stopped on request after step " << step << " of " << total_steps
                    << " (end of epoch " << epochs_done << ")";
      summary.stopped = true;
      break;
    }
  }
  summary.steps = step;
  summary.epochs_completed = epochs_done;
  summary.checkpoint = latest_checkpoint;
  return summary;
}

}  // namespace rib::engine
