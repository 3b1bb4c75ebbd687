#include "server/rpc/convert.h"

#include <google/protobuf/util/time_util.h>

#include "absl/strings/str_cat.h"
#include "proto/convert/job_spec_convert.h"

namespace rib::rpc {
namespace {

void SetTime(absl::Time t, google::protobuf::Timestamp* out) {
  const int64_t us = absl::ToUnixMicros(t);
  out->set_seconds(us / 1'000'000 - (us % 1'000'000 < 0 ? 1 : 0));
  int64_t rem = us % 1'000'000;
  if (rem < 0) rem += 1'000'000;
  out->set_nanos(static_cast<int32_t>(rem * 1000));
}

void ToProto(const domain::MatrixCell& in, v1::Cell* out) {
  out->set_present(in.present);
  out->set_accuracy(in.accuracy);
  out->set_correct(in.correct);
  out->set_total(in.total);
  out->set_skipped(in.skipped);
  out->set_se(in.se);
  out->set_seed_sd(in.seed_sd);
}

void ToProto(const domain::MatrixRow& in, v1::MatrixRow* out) {
  out->set_finetune_dataset(in.finetune_dataset);
  if (in.job_state) out->set_job_state(::rib::rpc::ToProto(*in.job_state));
  for (const auto& c : in.cells) ToProto(c, out->add_cells());
  out->set_has_ri(in.ri.has_value());
  out->set_ri(in.ri.value_or(0));
  out->set_has_pretrain_change(in.pretrain_change.has_value());
  out->set_pretrain_change(in.pretrain_change.value_or(0));
  out->set_ri_se(in.ri_se.value_or(0));
  if (in.ri_ci) {
    out->set_ri_ci_low(in.ri_ci->low);
    out->set_ri_ci_high(in.ri_ci->high);
  }
  out->set_ri_seed_sd(in.ri_seed_sd.value_or(0));
  out->set_has_otdd(in.otdd.has_value());
  out->set_otdd(in.otdd.value_or(0));
  out->set_has_ri_bootstrap(in.ri_bootstrap_ci.has_value());
  if (in.ri_bootstrap_ci) {
    out->set_ri_bootstrap_low(in.ri_bootstrap_ci->low);
    out->set_ri_bootstrap_high(in.ri_bootstrap_ci->high);
  }
}

v1::SweepState ToProto(domain::SweepState s) {
  switch (s) {
    case domain::SweepState::kActive:
      return v1::SWEEP_STATE_ACTIVE;
    case domain::SweepState::kSucceeded:
      return v1::SWEEP_STATE_SUCCEEDED;
    case domain::SweepState::kFailed:
      return v1::SWEEP_STATE_FAILED;
    case domain::SweepState::kCancelled:
      return v1::SWEEP_STATE_CANCELLED;
  }
  return v1::SWEEP_STATE_UNSPECIFIED;
}

void ToProto(const domain::JobProgress& in, v1::JobProgress* out) {
  out->set_epoch(in.epoch);
  out->set_epochs(in.epochs);
  out->set_step(in.step);
  out->set_steps(in.steps);
  out->set_loss(in.loss);
  out->set_lr(in.lr);
}

}  // namespace

void ToProto(const JobSpec& in, v1::JobSpec* out) { *out = convert::JobSpecToProto(in); }

v1::JobState ToProto(domain::JobState s) {
  switch (s) {
    case domain::JobState::kPending:
      return v1::JOB_STATE_PENDING;
    case domain::JobState::kQueued:
      return v1::JOB_STATE_QUEUED;
    case domain::JobState::kLeased:
      return v1::JOB_STATE_LEASED;
    case domain::JobState::kRunning:
      return v1::JOB_STATE_RUNNING;
    case domain::JobState::kSucceeded:
      return v1::JOB_STATE_SUCCEEDED;
    case domain::JobState::kFailed:
      return v1::JOB_STATE_FAILED;
    case domain::JobState::kCancelled:
      return v1::JOB_STATE_CANCELLED;
  }
  return v1::JOB_STATE_UNSPECIFIED;
}

absl::StatusOr<std::optional<domain::JobState>> FromProto(v1::JobState s) {
  switch (s) {
    case v1::JOB_STATE_UNSPECIFIED:
      return std::optional<domain::JobState>();
    case v1::JOB_STATE_PENDING:
      return std::optional(domain::JobState::kPending);
    case v1::JOB_STATE_QUEUED:
      return std::optional(domain::JobState::kQueued);
    case v1::JOB_STATE_LEASED:
      return std::optional(domain::JobState::kLeased);
    case v1::JOB_STATE_RUNNING:
      return std::optional(domain::JobState::kRunning);
    case v1::JOB_STATE_SUCCEEDED:
      return std::optional(domain::JobState::kSucceeded);
    case v1::JOB_STATE_FAILED:
      return std::optional(domain::JobState::kFailed);
    case v1::JOB_STATE_CANCELLED:
      return std::optional(domain::JobState::kCancelled);
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("unknown job state ", static_cast<int>(s)));
  }
}

void ToProto(const ResultRow& in, v1::Accuracy* out) {
  out->set_dataset(in.dataset);
  out->set_subset(in.subset);
  out->set_correct(in.correct);
  out->set_total(in.total);
  out->set_skipped(in.skipped);
  out->set_correct_bits(in.correct_bits);
  out->set_evaluated_bits(in.evaluated_bits);
}

void ToProto(const domain::Job& in, v1::Job* out) {
  out->set_id(in.id);
  out->set_sweep_id(in.sweep_id);
  out->set_hash(in.hash);
  ToProto(in.spec, out->mutable_spec());
  out->set_state(ToProto(in.state));
  out->set_attempt(in.attempt);
  out->set_max_attempts(in.max_attempts);
  out->set_worker_id(in.worker_id);
  out->set_error(in.error);
  for (const auto& d : in.depends_on) out->add_depends_on(d);
  out->set_reused(!in.reused_from.empty());
  out->set_priority(in.priority);
  SetTime(in.created_at, out->mutable_created_at());
  SetTime(in.updated_at, out->mutable_updated_at());
  out->set_progress(in.progress);
  for (const auto& r : in.results) ToProto(r, out->add_results());
  out->set_owner(in.owner);
}

void ToProto(const domain::Sweep& in, v1::Sweep* out) {
  out->set_id(in.id);
  out->set_name(in.name);
  out->set_owner(in.owner);
  out->set_cancelled_by(in.cancelled_by);
  out->set_state(ToProto(in.state));
  out->set_priority(in.priority);
  for (const auto& [state, count] : in.counts) {
    v1::JobStateCount* c = out->add_counts();
    c->set_state(ToProto(state));
    c->set_count(count);
  }
  SetTime(in.created_at, out->mutable_created_at());
  out->set_sweep_yaml(in.yaml);
  out->set_client_request_id(in.client_request_id);
  for (const auto& s : in.models) out->add_models(s);
  for (const auto& s : in.methods) out->add_methods(s);
  for (const auto& s : in.finetune_datasets) out->add_finetune_datasets(s);
  for (const auto& s : in.eval_datasets) out->add_eval_datasets(s);
}

void ToProto(const domain::Worker& in, v1::Worker* out) {
  out->set_id(in.id);
  out->set_name(in.name);
  switch (in.state) {
    case domain::WorkerState::kActive:
      out->set_state(v1::WORKER_STATE_ACTIVE);
      break;
    case domain::WorkerState::kDraining:
      out->set_state(v1::WORKER_STATE_DRAINING);
      break;
    case domain::WorkerState::kLost:
      out->set_state(v1::WORKER_STATE_LOST);
      break;
  }
  for (const auto& d : in.devices) {
    v1::Device* pd = out->add_devices();
    pd->set_kind(d.kind);
    pd->set_count(d.count);
    pd->set_memory_bytes(d.memory_bytes);
  }
  for (const auto& s : in.datasets) out->add_datasets(s);
  for (const auto& s : in.labels) out->add_labels(s);
  SetTime(in.last_heartbeat, out->mutable_last_heartbeat());
  for (const auto& s : in.running_jobs) out->add_running_jobs(s);
  out->set_free_devices(in.free_devices);
}

void ToProto(const domain::SweepEvent& in, v1::SweepEvent* out) {
  SetTime(in.time, out->mutable_time());
  out->set_sweep_id(in.sweep_id);
  out->set_job_id(in.job_id);
  out->set_job_label(in.job_label);
  out->set_error(in.error);
  out->set_actor(in.actor);
  switch (in.kind) {
    case domain::SweepEvent::Kind::kState:
      out->set_state(ToProto(in.job_state));
      break;
    case domain::SweepEvent::Kind::kProgress:
      ToProto(in.progress, out->mutable_progress());
      break;
    case domain::SweepEvent::Kind::kResult:
      ToProto(in.result, out->mutable_result());
      break;
    case domain::SweepEvent::Kind::kSweepState:
      out->set_sweep_state(ToProto(in.sweep_state));
      break;
  }
}

void ToProto(const domain::Matrix& in, v1::Matrix* out) {
  out->set_model(in.model);
  out->set_method(in.method);
  for (const auto& d : in.eval_datasets) out->add_eval_datasets(d);
  ToProto(in.baseline, out->mutable_baseline());
  for (const auto& r : in.rows) ToProto(r, out->add_rows());
  out->set_has_mri(in.mri.has_value());
  out->set_mri(in.mri.value_or(0));
  out->set_has_mean_ood(in.mean_ood.has_value());
  out->set_mean_ood(in.mean_ood.value_or(0));
  out->set_has_mean_pretrain_change(in.mean_pretrain_change.has_value());
  out->set_mean_pretrain_change(in.mean_pretrain_change.value_or(0));
  out->set_pretrain_dataset(in.pretrain_dataset);
  out->set_mri_se(in.mri_se.value_or(0));
  if (in.mri_ci) {
    out->set_mri_ci_low(in.mri_ci->low);
    out->set_mri_ci_high(in.mri_ci->high);
  }
  out->set_mean_ood_se(in.mean_ood_se.value_or(0));
  out->set_has_pre_mean_ood(in.pre_mean_ood.has_value());
  out->set_pre_mean_ood(in.pre_mean_ood.value_or(0));
  out->set_pre_mean_ood_se(in.pre_mean_ood_se.value_or(0));
  for (int64_t seed : in.seeds) out->add_seeds(seed);
  out->set_mri_seed_sd(in.mri_seed_sd.value_or(0));
  out->set_has_mri_bootstrap(in.mri_bootstrap_ci.has_value());
  if (in.mri_bootstrap_ci) {
    out->set_mri_bootstrap_low(in.mri_bootstrap_ci->low);
    out->set_mri_bootstrap_high(in.mri_bootstrap_ci->high);
  }
  out->set_mean_ood_seed_sd(in.mean_ood_seed_sd.value_or(0));
  out->set_pre_mean_ood_seed_sd(in.pre_mean_ood_seed_sd.value_or(0));
  if (in.otdd_correlation) {
    v1::OtddCorrelation* c = out->mutable_otdd_correlation();
    c->set_pearson(in.otdd_correlation->pearson);
    c->set_spearman(in.otdd_correlation->spearman);
    c->set_n(in.otdd_correlation->n);
    if (in.otdd_line) {
      c->set_slope(in.otdd_line->slope);
      c->set_intercept(in.otdd_line->intercept);
    }
  }
}

void ToProto(const domain::Lease& in, v1::AcquireJobResponse* out) {
  out->set_has_job(true);
  out->set_job_id(in.job_id);
  out->set_lease_secret(in.secret);
  out->set_attempt(in.attempt);
  out->set_hash(in.hash);
  out->set_lease_secret(in.secret);
  ToProto(in.spec, out->mutable_spec());
  out->set_resume_checkpoint(in.resume_checkpoint);
}

storage::WorkerRegistration FromProto(const v1::RegisterRequest& in) {
  storage::WorkerRegistration reg;
  reg.name = in.name();
  for (const auto& d : in.devices())
    reg.devices.push_back({d.kind(), d.count(), d.memory_bytes()});
  reg.datasets.assign(in.datasets().begin(), in.datasets().end());
  reg.labels.assign(in.labels().begin(), in.labels().end());
  return reg;
}

absl::StatusOr<domain::JobReport> FromProto(const v1::JobEvent& in) {
  domain::JobReport r;
  r.job_id = in.job_id();
  r.attempt = in.attempt();
  r.lease_secret = in.lease_secret();
  r.seq = in.seq();
  switch (in.event_case()) {
    case v1::JobEvent::kStarted:
      r.kind = domain::JobReport::Kind::kStarted;
      break;
    case v1::JobEvent::kProgress: {
      r.kind = domain::JobReport::Kind::kProgress;
      const auto& p = in.progress();
      r.progress = {p.epoch(), p.epochs(), p.step(), p.steps(), p.loss(), p.lr()};
      break;
    }
    case v1::JobEvent::kResult: {
      r.kind = domain::JobReport::Kind::kResult;
      const auto& a = in.result();
      r.result = {a.dataset(), a.subset(),  a.correct(),      a.total(),
                  a.skipped(), a.correct_bits(), a.evaluated_bits()};
      break;
    }
    case v1::JobEvent::kDistance: {
      r.kind = domain::JobReport::Kind::kDistance;
      const auto& d = in.distance();
      r.distance = {d.source_dataset(),  d.target_dataset(),  d.distance(),
                    d.source_examples(), d.target_examples(), d.epsilon(),
                    d.converged()};
      break;
    }
    case v1::JobEvent::kCheckpoint:
      r.kind = domain::JobReport::Kind::kCheckpoint;
      r.checkpoint = in.checkpoint();
      break;
    case v1::JobEvent::kFinished:
      r.kind = domain::JobReport::Kind::kFinished;
      r.ok = in.finished().ok();
      r.error = in.finished().error();
      r.weights = in.finished().weights();
      r.released = in.finished().released();
      r.weights_digest = in.finished().weights_digest();
      if (in.finished().has_repro()) r.repro = FromProto(in.finished().repro());
      if (in.finished().code() < 0 || in.finished().code() > 16) {
        return absl::InvalidArgumentError(absl::StrCat("job event for ", in.job_id(),
                                                       " has unknown status code ",
                                                       in.finished().code()));
      }
      if (in.finished().code() != 0) {
        r.code = static_cast<absl::StatusCode>(in.finished().code());
      } else {
        // A worker that predates `code` says only whether it would retry.
        r.code = in.finished().retryable() ? absl::StatusCode::kUnavailable
                                           : absl::StatusCode::kUnknown;
      }
      break;
    default:
      return absl::InvalidArgumentError(
          absl::StrCat("job event for ", in.job_id(), " carries no event"));
  }
  return r;
}

void ToProto(const domain::ReproRecord& in, v1::ReproRecord* out) {
  out->set_rib_version(in.rib_version);
  out->set_rib_commit(in.rib_commit);
  out->set_torch_version(in.torch_version);
  out->set_cuda_version(in.cuda_version);
  for (const std::string& d : in.devices) out->add_devices(d);
  out->set_host(in.host);
  out->set_threads(in.threads);
  out->set_intra_op_threads(in.intra_op_threads);
  out->set_inter_op_threads(in.inter_op_threads);
  out->set_blas_core(in.blas_core);
  out->set_world_size(in.world_size);
  out->set_wall_seconds(in.wall_seconds);
  out->set_train_images_per_second(in.train_images_per_second);
  out->set_eval_images_per_second(in.eval_images_per_second);
}

domain::ReproRecord FromProto(const v1::ReproRecord& in) {
  domain::ReproRecord r;
  r.rib_version = in.rib_version();
  r.rib_commit = in.rib_commit();
  r.torch_version = in.torch_version();
  r.cuda_version = in.cuda_version();
  r.devices.assign(in.devices().begin(), in.devices().end());
  r.host = in.host();
  r.threads = in.threads();
  r.intra_op_threads = in.intra_op_threads();
  r.inter_op_threads = in.inter_op_threads();
  r.blas_core = in.blas_core();
  r.world_size = in.world_size();
  r.wall_seconds = in.wall_seconds();
  r.train_images_per_second = in.train_images_per_second();
  r.eval_images_per_second = in.eval_images_per_second();
  return r;
}

void ToProto(const domain::Attempt& in, v1::Attempt* out) {
  out->set_attempt(in.attempt);
  out->set_worker_id(in.worker_id);
  out->set_worker_name(in.worker_name);
  SetTime(in.leased_at, out->mutable_leased_at());
  if (in.started_at) SetTime(*in.started_at, out->mutable_started_at());
  if (in.finished_at) SetTime(*in.finished_at, out->mutable_finished_at());
  if (in.end_state) out->set_end_state(ToProto(*in.end_state));
  out->set_error(in.error);
  out->set_code(in.code);
  out->set_weights(in.weights);
  out->set_weights_digest(in.weights_digest);
  for (const std::string& c : in.checkpoints) out->add_checkpoints(c);
  if (in.repro) ToProto(*in.repro, out->mutable_repro());
  for (int r : in.log_ranks) out->add_log_ranks(r);
}

void ToProto(const domain::LogChunk& in, v1::AttemptLog* out) {
  out->set_attempt(in.attempt);
  out->set_rank(in.rank);
  out->set_start_offset(in.start_offset);
  out->set_data(in.data);
  out->set_end_offset(in.end_offset);
  out->set_dropped(in.kept_from);
  out->set_attempt_ended(in.attempt_ended);
}

domain::LogAppend FromProto(const v1::AppendAttemptLogRequest& in) {
  domain::LogAppend a;
  a.job_id = in.job_id();
  a.attempt = in.attempt();
  a.rank = in.rank();
  a.offset = in.offset();
  a.data = in.data();
  a.lease_secret = in.lease_secret();
  return a;
}

void ToProto(const service::SweepPlan& in, v1::SweepPlan* out) {
  out->set_name(in.name);
  for (const service::PlannedJobView& j : in.jobs) {
    v1::PlannedJob* p = out->add_jobs();
    p->set_key(j.key);
    p->set_hash(j.hash);
    p->set_reused_from(j.reused_from);
    for (const std::string& d : j.needs.datasets) p->add_datasets(d);
    p->set_devices(j.needs.devices);
    p->set_device_kind(j.needs.device_kind);
    for (const std::string& d : j.depends_on) p->add_depends_on(d);
    for (const std::string& w : j.workers) p->add_workers(w);
    for (const std::string& w : j.why_not) p->add_why_not(w);
  }
  out->set_jobs_new(in.jobs_new);
  out->set_jobs_reused(in.jobs_reused);
  out->set_jobs_unrunnable(in.jobs_unrunnable);
}

v1::Role ToProto(domain::Role r) {
  switch (r) {
    case domain::Role::kUser:
      return v1::ROLE_USER;
    case domain::Role::kAdmin:
      return v1::ROLE_ADMIN;
    case domain::Role::kWorker:
      return v1::ROLE_WORKER;
  }
  return v1::ROLE_UNSPECIFIED;
}

absl::StatusOr<domain::Role> FromProto(v1::Role r) {
  switch (r) {
    case v1::ROLE_USER:
      return domain::Role::kUser;
    case v1::ROLE_ADMIN:
      return domain::Role::kAdmin;
    case v1::ROLE_WORKER:
      return domain::Role::kWorker;
    default:
      return absl::InvalidArgumentError("role must be user, admin or worker");
  }
}

void ToProto(const domain::TokenInfo& in, v1::TokenInfo* out) {
  out->set_id(in.id);
  out->set_user(in.user);
  out->set_role(ToProto(in.role));
  out->set_created_by(in.created_by);
  SetTime(in.created_at, out->mutable_created_at());
  out->set_revoked(in.revoked_at.has_value());
  if (in.revoked_at) SetTime(*in.revoked_at, out->mutable_revoked_at());
  out->set_revoked_by(in.revoked_by);
}

void ToProto(const domain::Quota& in, v1::Quota* out) {
  out->set_user(in.user);
  out->set_unlimited(!in.devices.has_value());
  out->set_devices(in.devices.value_or(0));
  out->set_devices_in_use(in.devices_in_use);
}

}  // namespace rib::rpc
