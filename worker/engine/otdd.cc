#include "worker/engine/otdd.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <utility>

#include "absl/status/status.h"
#include "absl/strings/str_cat.h"

namespace rib::engine {
namespace {

// Rows of the cost matrix converted to double at a time (1024 × 10000 × 8 B = 80 MB).
constexpr int64_t kBlockRows = 1024;

absl::Status CheckData(const LabeledFeatures& data, absl::string_view name) {
  if (!data.features.defined() || data.features.dim() != 2)
    return absl::InvalidArgumentError(
        absl::StrCat("OTDD: ", name, "'s features must be a [n, d] matrix"));
  if (!data.labels.defined() || data.labels.dim() != 1 ||
      data.labels.size(0) != data.features.size(0))
    return absl::InvalidArgumentError(absl::StrCat(
        "OTDD: ", name, " has ", data.features.size(0),
        " feature rows but labels of another shape (expected int64 [n])"));
  if (data.labels.scalar_type() != torch::kLong)
    return absl::InvalidArgumentError(
        absl::StrCat("OTDD: ", name, "'s labels must be int64"));
  if (!data.features.is_floating_point())
    return absl::InvalidArgumentError(
        absl::StrCat("OTDD: ", name, "'s features must be float or double"));
  if (!torch::isfinite(data.features).all().item<bool>())
    return absl::InvalidArgumentError(
        absl::StrCat("OTDD: ", name, " has a non-finite feature value"));
  return absl::OkStatus();
}

// −ε log Σ_j exp(log_w_j + (h_j − C_ij)/ε) for every row i (dim = 1), or over rows i
// for every column j (dim = 0), with C read in double one block of rows at a time.
torch::Tensor SoftMin(const torch::Tensor& cost, const torch::Tensor& log_w,
                      const torch::Tensor& h, double eps, int dim) {
  const int64_t n = cost.size(0);
  std::vector<torch::Tensor> parts;
  for (int64_t start = 0; start < n; start += kBlockRows) {
    const int64_t end = std::min(n, start + kBlockRows);
    torch::Tensor block = cost.slice(0, start, end).to(torch::kDouble);
    if (dim == 1) {
      parts.push_back(torch::logsumexp((log_w + h / eps).unsqueeze(0) - block / eps, 1));
    } else {
      torch::Tensor wh = (log_w + h / eps).slice(0, start, end).unsqueeze(1);
      parts.push_back(torch::logsumexp(wh - block / eps, 0).unsqueeze(0));
    }
  }
  torch::Tensor lse = dim == 1 ? torch::cat(parts) : torch::logsumexp(torch::cat(parts), 0);
  return -eps * lse;
}

// ‖x_i − y_j‖² + W[la_i, lb_j], halved (see the header), in `dtype`.
torch::Tensor PointCost(const torch::Tensor& x, const torch::Tensor& la,
                        const torch::Tensor& y, const torch::Tensor& lb,
                        const torch::Tensor& label_cost, torch::ScalarType dtype) {
  const int64_t n = x.size(0), m = y.size(0);
  torch::Tensor cost = torch::empty({n, m}, torch::TensorOptions().dtype(dtype));
  torch::Tensor y2 = y.pow(2).sum(1);
  for (int64_t start = 0; start < n; start += kBlockRows) {
    const int64_t end = std::min(n, start + kBlockRows);
    torch::Tensor xb = x.slice(0, start, end);
    torch::Tensor d2 = (xb.pow(2).sum(1).unsqueeze(1) + y2.unsqueeze(0) -
                        2 * torch::mm(xb, y.t()))
                           .clamp_min(0);
    torch::Tensor w = label_cost.index({la.slice(0, start, end).unsqueeze(1),
                                        lb.unsqueeze(0)});
    cost.slice(0, start, end).copy_(0.5 * (d2 + w));
  }
  return cost;
}

// Examples of the kept classes, with labels renumbered to their index in g.labels.
std::pair<torch::Tensor, torch::Tensor> KeptExamples(const LabeledFeatures& data,
                                                     const ClassGaussians& g) {
  torch::Tensor labels = data.labels;
  torch::Tensor keep = torch::zeros_like(labels, torch::kBool);
  torch::Tensor index = torch::zeros_like(labels);
  for (size_t c = 0; c < g.labels.size(); ++c) {
    torch::Tensor is_c = labels == g.labels[c];
    keep |= is_c;
    index.masked_fill_(is_c, static_cast<int64_t>(c));
  }
  return {data.features.index({keep}).to(torch::kDouble), index.index({keep})};
}

}  // namespace

torch::Tensor CovarianceFactor(const torch::Tensor& covariance) {
  auto [values, vectors] = torch::linalg_eigh(covariance.to(torch::kDouble));
  return vectors * values.clamp_min(0).sqrt().unsqueeze(0);
}

absl::StatusOr<ClassGaussians> FitClassGaussians(const LabeledFeatures& data,
                                                 int64_t min_class_count) {
  if (absl::Status s = CheckData(data, "dataset"); !s.ok()) return s;
  if (min_class_count < 2)
    return absl::InvalidArgumentError(absl::StrCat(
        "OTDD: min_class_count must be at least 2 (a covariance needs two examples), got ",
        min_class_count));
  torch::Tensor x = data.features.to(torch::kDouble);
  const int64_t d = x.size(1);
  std::map<int64_t, int64_t> counts;
  const auto labels = data.labels.contiguous();
  const int64_t* p = labels.data_ptr<int64_t>();
  for (int64_t i = 0; i < labels.size(0); ++i) ++counts[p[i]];
  ClassGaussians out;
  std::vector<torch::Tensor> means;
  for (const auto& [label, count] : counts) {
    if (count < min_class_count) continue;
    torch::Tensor xc = x.index({labels == label});
    torch::Tensor mean = xc.mean(0);
    torch::Tensor centred = (xc - mean) / std::sqrt(static_cast<double>(count - 1));
    // Σ = centredᵀ centred; its rank is at most count − 1, so the centred rows are the
    // cheaper factor unless the class has more examples than dimensions.
    out.factors.push_back(count <= d ? centred.t().contiguous()
                                     : CovarianceFactor(torch::mm(centred.t(), centred)));
    out.labels.push_back(label);
    means.push_back(mean);
  }
  if (out.labels.empty())
    return absl::InvalidArgumentError(absl::StrCat(
        "OTDD: no class has ", min_class_count, " or more examples (", counts.size(),
        " classes in ", labels.size(0), " examples)"));
  out.means = torch::stack(means);
  return out;
}

double BuresSquared(const torch::Tensor& factor_a, const torch::Tensor& factor_b) {
  const double cross =
      torch::linalg_svdvals(torch::mm(factor_a.t(), factor_b)).sum().item<double>();
  const double value = factor_a.pow(2).sum().item<double>() +
                       factor_b.pow(2).sum().item<double>() - 2 * cross;
  return std::max(0.0, value);
}

torch::Tensor LabelDistances(const ClassGaussians& a, const ClassGaussians& b) {
  const int64_t ca = a.means.size(0), cb = b.means.size(0), d = a.means.size(1);
  // B's factors zero-padded to one width: zero columns add no singular value, so
  // every pair's nuclear norm comes from one batched SVD per class of A.
  int64_t width = 0;
  for (const auto& f : b.factors) width = std::max(width, f.size(1));
  torch::Tensor padded = torch::zeros({cb, d, width}, torch::kDouble);
  torch::Tensor trace_b = torch::empty({cb}, torch::kDouble);
  for (int64_t j = 0; j < cb; ++j) {
    padded[j].slice(1, 0, b.factors[j].size(1)).copy_(b.factors[j]);
    trace_b[j] = b.factors[j].pow(2).sum();
  }
  torch::Tensor out = torch::empty({ca, cb}, torch::kDouble);
  for (int64_t i = 0; i < ca; ++i) {
    const torch::Tensor& fa = a.factors[i];
    torch::Tensor cross = torch::linalg_svdvals(torch::matmul(fa.t().unsqueeze(0), padded))
                              .sum(1);
    torch::Tensor bures = (fa.pow(2).sum() + trace_b - 2 * cross).clamp_min(0);
    out[i] = (a.means[i].unsqueeze(0) - b.means).pow(2).sum(1) + bures;
  }
  return out;
}

SinkhornResult Sinkhorn(const torch::Tensor& cost, bool symmetric,
                        const OtddOptions& options) {
  const int64_t n = cost.size(0), m = cost.size(1);
  const auto dbl = torch::TensorOptions().dtype(torch::kDouble);
  torch::Tensor log_a = torch::full({n}, -std::log(static_cast<double>(n)), dbl);
  torch::Tensor log_b = torch::full({m}, -std::log(static_cast<double>(m)), dbl);
  // ε-scaling: from the largest cost down to ε, by scaling² a step (geomloss's
  // annealing for p = 2), one update per step, the potentials carried along.
  std::vector<double> schedule;
  const double top = cost.max().item<double>();
  for (double e = top; e > options.epsilon; e *= options.scaling * options.scaling)
    schedule.push_back(e);
  torch::Tensor f = torch::zeros({n}, dbl), g = torch::zeros({m}, dbl);
  SinkhornResult result;
  auto error_of = [&](const torch::Tensor& old_f, const torch::Tensor& new_f, double e) {
    return (log_a.exp() * ((old_f - new_f) / e).exp().sub(1).abs()).sum().item<double>();
  };
  auto step = [&](double e) {
    if (symmetric) {
      torch::Tensor t = SoftMin(cost, log_a, f, e, 1);
      torch::Tensor next = 0.5 * (f + t);
      const double err = error_of(f, t, e);
      f = next;
      return err;
    }
    g = SoftMin(cost, log_a, f, e, 0);
    torch::Tensor next = SoftMin(cost, log_b, g, e, 1);
    const double err = error_of(f, next, e);
    f = next;
    return err;
  };
  for (double e : schedule) step(e);
  for (result.iterations = 1; result.iterations <= options.max_iterations;
       ++result.iterations) {
    if (step(options.epsilon) < options.tolerance) {
      result.converged = true;
      break;
    }
  }
  result.iterations = std::min(result.iterations, options.max_iterations);
  if (symmetric) g = f;
  result.f = f;
  result.g = g;
  result.value =
      (log_a.exp() * f).sum().item<double>() + (log_b.exp() * g).sum().item<double>();
  return result;
}

absl::StatusOr<OtddResult> DatasetDistance(const LabeledFeatures& a,
                                           const LabeledFeatures& b,
                                           const OtddOptions& options) {
  if (!(options.epsilon > 0) || !(options.scaling > 0 && options.scaling < 1) ||
      !(options.tolerance > 0) || options.max_iterations < 1)
    return absl::InvalidArgumentError(absl::StrCat(
        "OTDD: options need epsilon > 0, scaling in (0, 1), tolerance > 0 and "
        "max_iterations >= 1 (got ",
        options.epsilon, ", ", options.scaling, ", ", options.tolerance, ", ",
        options.max_iterations, ")"));
  if (absl::Status s = CheckData(a, "the first dataset"); !s.ok()) return s;
  if (absl::Status s = CheckData(b, "the second dataset"); !s.ok()) return s;
  if (a.features.size(1) != b.features.size(1))
    return absl::InvalidArgumentError(
        absl::StrCat("OTDD: the datasets' features differ in width (", a.features.size(1),
                     " vs ", b.features.size(1), ")"));
  auto ga = FitClassGaussians(a, options.min_class_count);
  if (!ga.ok()) return ga.status();
  auto gb = FitClassGaussians(b, options.min_class_count);
  if (!gb.ok()) return gb.status();
  auto [xa, la] = KeptExamples(a, *ga);
  auto [xb, lb] = KeptExamples(b, *gb);
  const torch::ScalarType dtype = a.features.scalar_type();
  torch::Tensor cost_ab = PointCost(xa, la, xb, lb, LabelDistances(*ga, *gb), dtype);
  SinkhornResult ab = Sinkhorn(cost_ab, /*symmetric=*/false, options);
  cost_ab = torch::Tensor();
  SinkhornResult aa = Sinkhorn(PointCost(xa, la, xa, la, LabelDistances(*ga, *ga), dtype),
                               /*symmetric=*/true, options);
  SinkhornResult bb = Sinkhorn(PointCost(xb, lb, xb, lb, LabelDistances(*gb, *gb), dtype),
                               /*symmetric=*/true, options);
  OtddResult out;
  out.distance = ab.value - 0.5 * aa.value - 0.5 * bb.value;
  out.examples_a = xa.size(0);
  out.examples_b = xb.size(0);
  out.classes_a = static_cast<int64_t>(ga->labels.size());
  out.classes_b = static_cast<int64_t>(gb->labels.size());
  out.converged = ab.converged && aa.converged && bb.converged;
  return out;
}

}  // namespace rib::engine
