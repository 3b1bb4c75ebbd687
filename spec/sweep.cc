// Sweep expansion: planned jobs in dependency order with their hashes. The YAML parser
// lives in sweep_yaml.cc; the vocabulary it uses in methods.cc, suites.cc.
#include "spec/sweep.h"

#include <algorithm>
#include <deque>
#include <functional>
#include <set>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib::spec {

// ---- Expansion -----------------------------------------------------------------------

namespace {

// The sweep's methods in dependency order, with the implicit dependencies added (lpft
// → lp, wise-ft → ft) and each method's dependencies as (role, method name).
struct MethodPlan {
  std::deque<MethodSpec> implicit;  // a deque: `order` points into it
  std::vector<const MethodSpec*> order;
  std::map<std::string, std::vector<std::pair<std::string, std::string>>> deps;
};

std::vector<std::string> FinetuneDatasets(const SweepSpec& sweep) {
  return sweep.finetune_datasets.empty() ? SuiteDownstreamDatasets(sweep.suite)
                                         : sweep.finetune_datasets;
}

// `plan` must not move while its pointers are used (the caller owns it in place).
absl::Status PlanMethods(const SweepSpec& sweep, MethodPlan* plan) {
  std::map<std::string, const MethodSpec*> by_name;
  std::map<std::string, const MethodSpec*> by_kind;  // first method of each kind
  for (const MethodSpec& m : sweep.methods) {
    if (!IsMethodKind(m.kind)) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", m.name, "': unknown kind '", m.kind, "'"));
    }
    if (!by_name.emplace(m.name, &m).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("duplicate method name '", m.name, "'"));
    }
    by_kind.emplace(m.kind, &m);
  }
  // lora adapts attention projections: refuse it up front for a model without them rather
  // than fail one job per dataset later.
  for (const ModelSpec& model : sweep.models) {
    if (!absl::StrContains(model.arch, "resnet")) continue;
    for (const MethodSpec& m : sweep.methods) {
      if (m.kind != "lora") continue;
      return absl::InvalidArgumentError(
          absl::StrCat("method '", m.name, "' (lora) needs attention blocks; model '",
                       model.name, "' (arch ", model.arch, ") has none"));
    }
  }

  // Methods in dependency order; implicit dependencies are appended to `implicit`
  // (a deque, so pointers stay valid).
  std::deque<MethodSpec>& implicit = plan->implicit;
  std::vector<const MethodSpec*>& order = plan->order;
  auto& deps = plan->deps;
  std::set<std::string> done;
  std::set<std::string> visiting;
  std::function<absl::Status(const MethodSpec&)> emit =
      [&](const MethodSpec& m) -> absl::Status {
    if (done.count(m.name) > 0) return absl::OkStatus();
    if (!visiting.insert(m.name).second) {
      return absl::InvalidArgumentError(
          absl::StrCat("method '", m.name, "': dependency cycle"));
    }
    std::vector<std::pair<std::string, std::string>> my_deps;
    const std::string dep_kind = MethodDependencyKind(m.kind);
    if (!dep_kind.empty()) {
      const MethodSpec* dep = nullptr;
      auto it = by_kind.find(dep_kind);
      if (it != by_kind.end()) {
        dep = it->second;
      } else if (by_name.count(dep_kind) > 0) {
        return absl::InvalidArgumentError(absl::StrCat("method '", dep_kind,
                                                       "' is not of kind ", dep_kind,
                                                       " but ", m.kind, " needs one"));
      } else {
        implicit.push_back(MethodSpec{dep_kind, dep_kind, {}, {}});
        dep = &implicit.back();
        by_kind.emplace(dep_kind, dep);
        by_name.emplace(dep_kind, dep);
      }
      my_deps.emplace_back(dep_kind, dep->name);
      RIB_RETURN_IF_ERROR(emit(*dep));
    }
    if (m.kind == "soup") {
      if (m.members.empty()) {
        return absl::InvalidArgumentError(
            absl::StrCat("method '", m.name, "': a soup needs members"));
      }
      for (const std::string& member : m.members) {
        auto it = by_name.find(member);
        if (it == by_name.end()) {
          return absl::InvalidArgumentError(
              absl::StrCat("method '", m.name, "': member '", member,
                           "' is not a method of the sweep"));
        }
        absl::Status member_ok = CheckSoupMember(member, it->second->kind);
        if (!member_ok.ok()) {
          return absl::InvalidArgumentError(
              absl::StrCat("method '", m.name, "': ", member_ok.message()));
        }
        my_deps.emplace_back(member, member);
        RIB_RETURN_IF_ERROR(emit(*it->second));
      }
    }
    visiting.erase(m.name);
    done.insert(m.name);
    deps[m.name] = std::move(my_deps);
    order.push_back(&m);
    return absl::OkStatus();
  };
  for (const MethodSpec& m : sweep.methods) {
    if (m.kind == "pre") continue;  // merges with the automatic pre job
    RIB_RETURN_IF_ERROR(emit(m));
  }
  return absl::OkStatus();
}

// ExpandSweep of a sweep with seeds: one expansion per seed (seeds cleared,
// training.seed set), keys suffixed "@seed=N" so the seeds' jobs stay distinct.
absl::StatusOr<std::vector<PlannedJob>> ExpandSeeds(const SweepSpec& sweep) {
  std::vector<PlannedJob> out;
  for (int64_t seed : sweep.seeds) {
    SweepSpec one = sweep;
    one.seeds.clear();
    one.training.seed = seed;
    RIB_ASSIGN_OR_RETURN(std::vector<PlannedJob> jobs, ExpandSweep(one));
    const std::string suffix = absl::StrCat("@seed=", seed);
    for (PlannedJob& job : jobs) {
      job.key += suffix;
      for (std::string& dep : job.depends_on) dep += suffix;
      out.push_back(std::move(job));
    }
  }
  return out;
}

}  // namespace

absl::StatusOr<int64_t> CountSweepJobs(const SweepSpec& sweep) {
  MethodPlan plan;
  RIB_RETURN_IF_ERROR(PlanMethods(sweep, &plan));
  const int64_t models = static_cast<int64_t>(sweep.models.size());
  const int64_t seeds = std::max<int64_t>(1, static_cast<int64_t>(sweep.seeds.size()));
  return seeds * models *
         (1 + static_cast<int64_t>(plan.order.size()) *
                  static_cast<int64_t>(FinetuneDatasets(sweep).size()));
}

absl::StatusOr<std::vector<ResolvedHubModel>> ResolveHubModels(const std::string& cache_dir,
                                                               SweepSpec* sweep) {
  std::vector<ResolvedHubModel> resolved;
  for (ModelSpec& model : sweep->models) {
    auto it = sweep->hub_models.find(model.name);
    if (it == sweep->hub_models.end()) continue;
    const absl::StatusOr<HubReference> ref = ParseHubReference(model.weights);
    absl::StatusOr<HubSnapshot> snapshot =
        ref.ok() ? ResolveHubSnapshot(cache_dir, *ref) : ref.status();
    if (!snapshot.ok()) {
      return absl::Status(snapshot.status().code(),
                          absl::StrCat("model '", model.name, "': ",
                                       snapshot.status().message()));
    }
    ResolvedHubModel r{model.name, model.weights, *snapshot};
    RIB_RETURN_IF_ERROR(ApplyHubSnapshot(*ref, *snapshot, it->second,
                                         SuiteDefaultNumClasses(sweep->suite), &model));
    resolved.push_back(std::move(r));
  }
  sweep->hub_models.clear();
  return resolved;
}

absl::StatusOr<std::vector<PlannedJob>> ExpandSweep(const SweepSpec& sweep) {
  if (!sweep.seeds.empty()) return ExpandSeeds(sweep);
  for (const ModelSpec& model : sweep.models) {
    if (sweep.hub_models.count(model.name) > 0 || IsHubWeights(model.weights)) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model.name, "': weights '", model.weights,
                       "' are not resolved (ResolveHubModels before expanding)"));
    }
    if (model.weights_digest.empty()) {
      return absl::FailedPreconditionError(
          absl::StrCat("model '", model.name,
                       "': weights_digest is not filled (hash the weights "
                       "file before expanding the sweep)"));
    }
  }
  MethodPlan plan;
  RIB_RETURN_IF_ERROR(PlanMethods(sweep, &plan));
  const std::vector<const MethodSpec*>& order = plan.order;
  auto& deps = plan.deps;

  std::vector<std::string> evals = sweep.eval_datasets;
  if (evals.empty()) evals = SuiteEvalDatasets(sweep.suite);
  const std::vector<std::string> finetune = FinetuneDatasets(sweep);

  JobSpec base;
  base.eval_datasets = evals;
  base.training = sweep.training;
  base.split = sweep.split;
  base.test_fraction = sweep.test_fraction;
  base.objectnet_mode = sweep.objectnet_mode;
  base.devices = sweep.devices;
  base.suite = sweep.suite;

  std::vector<PlannedJob> jobs;
  std::map<std::string, std::string> hash_of;  // key → hash
  auto add = [&](PlannedJob job) {
    job.hash = JobHash(job.spec);
    if (hash_of.emplace(job.key, job.hash).second) jobs.push_back(std::move(job));
  };
  for (const ModelSpec& model : sweep.models) {
    PlannedJob pre;
    pre.key = absl::StrCat(model.name, "/pre");
    pre.spec = base;
    pre.spec.model = model;
    pre.spec.method = MethodSpec{"pre", "pre", {}, {}};
    add(std::move(pre));
    for (const MethodSpec* m : order) {
      absl::StatusOr<std::map<std::string, std::string>> params =
          CanonicalMethodParams(m->kind, m->params);
      if (!params.ok()) {
        return absl::InvalidArgumentError(
            absl::StrCat("method '", m->name, "': ", params.status().message()));
      }
      for (const std::string& dataset : finetune) {
        PlannedJob job;
        job.key = absl::StrCat(model.name, "/", m->name, "/", dataset);
        job.spec = base;
        job.spec.model = model;
        job.spec.method = *m;
        job.spec.method.params = *params;
        job.spec.finetune_dataset = dataset;
        // An otdd job measures a distance and evaluates nothing (methods.h).
        if (m->kind == kOtddKind) job.spec.eval_datasets.clear();
        for (const auto& [role, dep_name] : deps[m->name]) {
          const std::string dep_key =
              absl::StrCat(model.name, "/", dep_name, "/", dataset);
          job.depends_on.push_back(dep_key);
          job.spec.dependency_hashes[role] = hash_of.at(dep_key);
        }
        add(std::move(job));
      }
    }
  }
  return jobs;
}

}  // namespace rib::spec
