#include "common/robustness_bootstrap.h"

#include <algorithm>
#include <cmath>
#include <random>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace rib {
namespace {

bool Bit(const std::string& bits, int64_t k) {
  return (static_cast<unsigned char>(bits[k >> 3]) >> (k & 7)) & 1;
}

absl::Status CheckBits(const ImageBits& b, absl::string_view what) {
  const size_t bytes = static_cast<size_t>((b.size + 7) / 8);
  if (b.size < 0 || b.correct.size() != bytes ||
      (!b.evaluated.empty() && b.evaluated.size() != bytes)) {
    return absl::InvalidArgumentError(absl::StrCat(
        what, ": ", b.correct.size(), " correct and ", b.evaluated.size(),
        " evaluated bytes for ", b.size, " images (", bytes, " bytes each)"));
  }
  return absl::OkStatus();
}

// One cell's images of one subset, unpacked: the evaluated indices and whether each
// was right (for the row) and whether the baseline was right on it.
struct CellSubset {
  std::vector<int64_t> images;
  std::vector<char> after;
  std::vector<char> before;
};

// Percentile by linear interpolation between order statistics (numpy's default).
double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(std::floor(pos));
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (pos - static_cast<double>(lo)) * (v[hi] - v[lo]);
}

}  // namespace

absl::StatusOr<int64_t> CountBits(const std::string& bits, const std::string& mask,
                                  int64_t size) {
  RIB_RETURN_IF_ERROR(CheckBits(ImageBits{size, bits, mask}, "bits"));
  int64_t n = 0;
  for (int64_t k = 0; k < size; ++k) n += Bit(bits, k) && (mask.empty() || Bit(mask, k));
  return n;
}

absl::StatusOr<BootstrapIntervals> BootstrapRiIntervals(const BootstrapInput& input) {
  const size_t columns = input.columns.size();
  if (input.replicates < 1) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap replicates must be >= 1, got ", input.replicates));
  }
  if (input.baseline.size() != columns ||
      input.rows.size() != input.row_datasets.size()) {
    return absl::InvalidArgumentError(
        absl::StrCat("bootstrap input: ", input.baseline.size(), " baseline cells for ",
                     columns, " columns, ", input.rows.size(), " rows for ",
                     input.row_datasets.size(), " row datasets"));
  }
  // cells[i][j][s]: the unpacked images of row i, column j, subset s; a row whose
  // RI cannot be computed has no entry.
  BootstrapIntervals out;
  out.ri.assign(input.rows.size(), std::nullopt);
  std::vector<std::vector<std::pair<size_t, std::vector<CellSubset>>>> cells(
      input.rows.size());
  std::vector<char> usable(input.rows.size(), 0);
  for (size_t i = 0; i < input.rows.size(); ++i) {
    if (input.rows[i].size() != columns) {
      return absl::InvalidArgumentError(absl::StrCat("bootstrap row ", i, " has ",
                                                     input.rows[i].size(), " cells for ",
                                                     columns, " columns"));
    }
    bool complete = true;
    for (size_t j = 0; j < columns; ++j) {
      if (input.columns[j] == input.pretrain_column ||
          input.columns[j] == input.row_datasets[i])
        continue;
      const CellBits& row = input.rows[i][j];
      const CellBits& base = input.baseline[j];
      if (row.empty() || base.empty()) {
        complete = false;
        continue;
      }
      if (row.size() != base.size()) {
        return absl::InvalidArgumentError(
            absl::StrCat("bootstrap row ", i, " column ", input.columns[j], ": ",
                         row.size(), " subsets, the baseline has ", base.size()));
      }
      std::vector<CellSubset> subsets(row.size());
      for (size_t s = 0; s < row.size(); ++s) {
        const std::string what =
            absl::StrCat("row ", i, " column ", input.columns[j], " subset ", s);
        RIB_RETURN_IF_ERROR(CheckBits(row[s], what));
        RIB_RETURN_IF_ERROR(CheckBits(base[s], absl::StrCat("baseline ", what)));
        if (row[s].size != base[s].size) {
          return absl::InvalidArgumentError(absl::StrCat(
              what, ": ", row[s].size, " images, the baseline has ", base[s].size));
        }
        for (int64_t k = 0; k < row[s].size; ++k) {
          if (!row[s].evaluated.empty() && !Bit(row[s].evaluated, k)) continue;
          if (!base[s].evaluated.empty() && !Bit(base[s].evaluated, k)) {
            return absl::InvalidArgumentError(absl::StrCat(
                what, ": image ", k, " was evaluated by the row but not the baseline"));
          }
          subsets[s].images.push_back(k);
          subsets[s].after.push_back(Bit(row[s].correct, k));
          subsets[s].before.push_back(Bit(base[s].correct, k));
        }
        if (subsets[s].images.empty())
          return absl::InvalidArgumentError(absl::StrCat(what, ": no image evaluated"));
      }
      cells[i].emplace_back(j, std::move(subsets));
    }
    usable[i] = complete && !cells[i].empty();
  }
  // Draws: per replicate, per (column, subset), a count for each image.
  std::mt19937_64 rng(input.seed);
  std::vector<std::vector<double>> ri_draws(input.rows.size());
  std::vector<double> mri_draws;
  const bool all_rows = !input.rows.empty() && std::all_of(usable.begin(), usable.end(),
                                                           [](char u) { return u; });
  // The images resampled per (column, subset): those the baseline evaluated (all of
  // the subset when it evaluated every one), so a position no image stands behind (a
  // photo no job scores, a decode failure, the padding of the last byte) is never drawn.
  std::vector<std::vector<std::vector<int64_t>>> population(columns);
  for (size_t j = 0; j < columns; ++j) {
    const CellBits& base = input.baseline[j];
    population[j].resize(base.size());
    for (size_t s = 0; s < base.size(); ++s) {
      RIB_RETURN_IF_ERROR(CheckBits(
          base[s], absl::StrCat("baseline column ", input.columns[j], " subset ", s)));
      for (int64_t k = 0; k < base[s].size; ++k) {
        if (base[s].evaluated.empty() || Bit(base[s].evaluated, k))
          population[j][s].push_back(k);
      }
    }
  }
  std::vector<std::vector<std::vector<uint32_t>>> weights(columns);
  for (int b = 0; b < input.replicates; ++b) {
    for (size_t j = 0; j < columns; ++j) {
      const CellBits& base = input.baseline[j];
      weights[j].resize(base.size());
      for (size_t s = 0; s < base.size(); ++s) {
        auto& w = weights[j][s];
        w.assign(static_cast<size_t>(std::max<int64_t>(base[s].size, 0)), 0);
        const std::vector<int64_t>& images = population[j][s];
        const uint64_t n = images.size();
        for (uint64_t d = 0; d < n; ++d) ++w[images[rng() % n]];
      }
    }
    double mri = 0;
    for (size_t i = 0; i < input.rows.size(); ++i) {
      if (!usable[i]) continue;
      double ri = 0;
      for (const auto& [j, subsets] : cells[i]) {
        double after = 0, before = 0;
        for (size_t s = 0; s < subsets.size(); ++s) {
          const CellSubset& c = subsets[s];
          const auto& w = weights[j][s];
          double total = 0, a = 0, p = 0;
          for (size_t k = 0; k < c.images.size(); ++k) {
            const double wk = w[c.images[k]];
            total += wk;
            a += wk * c.after[k];
            p += wk * c.before[k];
          }
          // A resample that drew none of the cell's images: its original accuracy
          // difference stands for it (rare; only for tiny cells).
          if (total == 0) {
            total = static_cast<double>(c.images.size());
            a = std::count(c.after.begin(), c.after.end(), 1);
            p = std::count(c.before.begin(), c.before.end(), 1);
          }
          after += a / total;
          before += p / total;
        }
        ri += (after - before) / static_cast<double>(subsets.size());
      }
      ri /= static_cast<double>(cells[i].size());
      ri_draws[i].push_back(ri);
      mri += ri;
    }
    if (all_rows) mri_draws.push_back(mri / static_cast<double>(input.rows.size()));
  }
  for (size_t i = 0; i < input.rows.size(); ++i) {
    if (usable[i])
      out.ri[i] =
          Interval{Percentile(ri_draws[i], 0.025), Percentile(ri_draws[i], 0.975)};
  }
  if (all_rows)
    out.mri = Interval{Percentile(mri_draws, 0.025), Percentile(mri_draws, 0.975)};
  return out;
}

}  // namespace rib
