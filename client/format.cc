#include "client/format.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/watch.h"
#include "common/json.h"
#include "common/robustness.h"
#include "common/significance.h"

namespace rib::client {
namespace {

using rib::v1::Cell;
using rib::v1::Matrix;
using rib::v1::MatrixRow;

constexpr char kGreen[] = "\x1b[32m";
constexpr char kRed[] = "\x1b[31m";
constexpr char kReset[] = "\x1b[0m";

// Percentage-point text of a fraction difference, normalising "-0.0" to "+0.0".
std::string SignedPoints(double fraction, int decimals) {
  std::string text = absl::StrFormat("%+.*f", decimals, fraction * 100.0);
  if (text[0] == '-' && text.find_first_not_of("-0.") == std::string::npos) text[0] = '+';
  return text;
}

// "[-6.92, +0.92]": a 95% interval of a difference, in points.
std::string IntervalText(double low, double high) {
  return absl::StrCat("[", SignedPoints(low, 2), ", ", SignedPoints(high, 2), "]");
}

// Wraps a signed text in green/red when colouring and the rounded value is non-zero.
std::string Colored(const std::string& text, bool color) {
  if (!color || text.find_first_not_of("+-0.") == std::string::npos) return text;
  return absl::StrCat(text[0] == '-' ? kRed : kGreen, text, kReset);
}

std::string PadLeft(const std::string& text, size_t width) {
  size_t w = DisplayWidth(text);
  return w >= width ? text : std::string(width - w, ' ') + text;
}

std::string PadRight(const std::string& text, size_t width) {
  size_t w = DisplayWidth(text);
  return w >= width ? text : text + std::string(width - w, ' ');
}

// A fraction rounded to 6 decimals, without trailing zeros: "0.9", "-0.02", "1".
std::string Fraction(double value) {
  std::string text = absl::StrFormat("%.6f", value);
  while (!text.empty() && text.back() == '0') text.pop_back();
  if (!text.empty() && text.back() == '.') text.pop_back();
  if (text == "-0") text = "0";
  return text;
}

std::string CsvField(const std::string& text) {
  if (text.find_first_of(",\"\n\r") == std::string::npos) return text;
  std::string quoted = "\"";
  for (char c : text) {
    if (c == '"') quoted += '"';
    quoted += c;
  }
  return quoted + "\"";
}

std::string LatexEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '\\':
        out += "\\textbackslash{}";
        break;
      case '~':
        out += "\\textasciitilde{}";
        break;
      case '^':
        out += "\\textasciicircum{}";
        break;
      case '&':
      case '%':
      case '$':
      case '#':
      case '_':
      case '{':
      case '}':
        out += '\\';
        out += c;
        break;
      default:
        out += c;
    }
  }
  return out;
}

const Cell* CellAt(const MatrixRow& row, int col) {
  if (col < 0 || col >= row.cells_size() || !row.cells(col).present()) return nullptr;
  return &row.cells(col);
}

// A fraction as a JSON number with Fraction()'s digits (the CSV's), not the double's
// shortest text: "0.9" stays "0.9" and 1/3 stays "0.333333".
JsonValue JsonFraction(double value) { return JsonValue::NumberLiteral(Fraction(value)); }

JsonValue JsonOptional(bool has, double value) {
  return has ? JsonFraction(value) : JsonValue::Null();
}

// [low, high] of a 95% interval, or null.
JsonValue JsonInterval(bool has, double low, double high) {
  if (!has) return JsonValue::Null();
  JsonValue out = JsonValue::Array();
  out.Append(JsonFraction(low));
  out.Append(JsonFraction(high));
  return out;
}

JsonValue JsonCells(const Matrix& m, const MatrixRow& row, bool with_delta) {
  JsonValue cells = JsonValue::Array();
  for (int c = 0; c < m.eval_datasets_size(); ++c) {
    const Cell* cell = CellAt(row, c);
    JsonValue json = JsonValue::Object();
    json.Set("eval_dataset", JsonValue::String(m.eval_datasets(c)));
    if (cell == nullptr) {
      for (const char* key : {"accuracy", "correct", "total", "skipped", "se"}) {
        json.Set(key, JsonValue::Null());
      }
    } else {
      json.Set("accuracy", JsonFraction(cell->accuracy()));
      json.Set("correct", JsonValue::Int(cell->correct()));
      json.Set("total", JsonValue::Int(cell->total()));
      json.Set("skipped", JsonValue::Int(cell->skipped()));
      json.Set("se", JsonFraction(cell->se()));
    }
    const bool seeded = m.seeds_size() >= 2 && cell != nullptr;
    json.Set("seed_sd", seeded ? JsonFraction(cell->seed_sd()) : JsonValue::Null());
    if (with_delta) {
      std::optional<double> delta = CellDelta(m, row, c);
      json.Set("delta", delta ? JsonFraction(*delta) : JsonValue::Null());
    }
    cells.Append(std::move(json));
  }
  return cells;
}

}  // namespace

std::string FormatPercent(double fraction) {
  return absl::StrFormat("%.1f", fraction * 100.0);
}

std::string FormatDelta(double fraction, int decimals) {
  return SignedPoints(fraction, decimals);
}

std::optional<double> CellDelta(const Matrix& m, const MatrixRow& row, int col) {
  const Cell* base = CellAt(m.baseline(), col);
  const Cell* cell = CellAt(row, col);
  if (base == nullptr || cell == nullptr) return std::nullopt;
  return cell->accuracy() - base->accuracy();
}

std::string ColumnPrefix(const std::vector<std::string>& names) {
  std::string best;
  size_t best_count = 0;
  for (const std::string& candidate_name : names) {
    size_t dash = candidate_name.find('-');
    if (dash == std::string::npos) continue;
    std::string prefix = candidate_name.substr(0, dash + 1);
    size_t count = 0;
    bool usable = true;
    std::set<std::string> shortened;
    for (const std::string& name : names) {
      std::string s = name;
      if (name.rfind(prefix, 0) == 0) {
        ++count;
        s = name.substr(prefix.size());
        if (s.empty()) usable = false;
      }
      if (!shortened.insert(s).second) usable = false;
    }
    if (usable && count >= 2 && 2 * count >= names.size() && count > best_count) {
      best = prefix;
      best_count = count;
    }
  }
  return best;
}

std::string FormatMatricesMarkdown(const std::vector<Matrix>& matrices) {
  std::string out;
  for (const Matrix& m : matrices) {
    const int n = m.eval_datasets_size();
    absl::StrAppend(&out, "## ", m.model(), " / ", m.method(), "\n\n| fine-tuned on |");
    for (const std::string& e : m.eval_datasets()) absl::StrAppend(&out, " ", e, " |");
    absl::StrAppend(&out, " RI | pre-training change |\n|---|");
    for (int c = 0; c < n + 2; ++c) absl::StrAppend(&out, "---:|");
    absl::StrAppend(&out, "\n| pre-trained |");
    for (int c = 0; c < n; ++c) {
      const Cell* cell = CellAt(m.baseline(), c);
      absl::StrAppend(&out, " ", cell ? FormatPercent(cell->accuracy()) : "n/a", " |");
    }
    absl::StrAppend(&out, "  |  |\n");
    for (const MatrixRow& row : m.rows()) {
      absl::StrAppend(&out, "| ", row.finetune_dataset(), " |");
      for (int c = 0; c < n; ++c) {
        const Cell* cell = CellAt(row, c);
        std::optional<double> delta = CellDelta(m, row, c);
        absl::StrAppend(&out, " ", cell ? FormatPercent(cell->accuracy()) : "n/a",
                        delta ? absl::StrCat(" (", SignedPoints(*delta, 1), ")") : "",
                        " |");
      }
      absl::StrAppend(
          &out, " ", row.has_ri() ? SignedPoints(row.ri(), 2) : "n/a", " | ",
          row.has_pretrain_change() ? SignedPoints(row.pretrain_change(), 1) : "n/a",
          " |\n");
    }
    absl::StrAppend(
        &out, "\nmRI ", m.has_mri() ? SignedPoints(m.mri(), 2) : "n/a",
        " points, mean OOD accuracy ",
        m.has_mean_ood() ? FormatPercent(m.mean_ood()) + "%" : "n/a",
        ", mean pre-training change ",
        m.has_mean_pretrain_change() ? SignedPoints(m.mean_pretrain_change(), 2) : "n/a",
        " points. Accuracies in %, changes vs pre-trained in points.\n\n");
  }
  return out;
}

size_t DisplayWidth(const std::string& text) {
  size_t width = 0;
  for (size_t i = 0; i < text.size(); ++i) {
    unsigned char c = static_cast<unsigned char>(text[i]);
    if (c == 0x1b) {  // CSI sequence: ESC [ ... final byte in @..~
      ++i;
      if (i < text.size() && text[i] == '[') {
        ++i;
        while (i < text.size() && !(text[i] >= '@' && text[i] <= '~')) ++i;
      }
      continue;
    }
    if ((c & 0xC0) != 0x80) ++width;  // count UTF-8 lead bytes only
  }
  return width;
}

std::string FormatTable(const std::vector<Matrix>& matrices,
                        const TableOptions& options) {
  std::ostringstream out;
  bool first = true;
  for (const Matrix& m : matrices) {
    if (!first) out << "\n";
    first = false;
    std::vector<std::string> columns(m.eval_datasets().begin(), m.eval_datasets().end());
    std::string prefix = ColumnPrefix(columns);
    auto shorten = [&](const std::string& name) {
      return prefix.empty() || name.rfind(prefix, 0) != 0 ? name
                                                          : name.substr(prefix.size());
    };
    out << m.model() << " / " << m.method()
        << "   accuracy %, change vs pre-trained in points; rows: fine-tuned on";
    if (!prefix.empty()) out << "; \"" << prefix << "\" omitted";
    out << "\n";

    // Grid of cell texts: the header line, the baseline, then one line per row.
    std::vector<std::vector<std::string>> grid;
    std::vector<std::string> header = {""};
    // Short names end over the accuracies' last digit; long ones start at the cell.
    for (const std::string& c : columns) header.push_back(PadLeft(shorten(c), 5));
    header.push_back("RI [95% CI]");
    header.push_back("pre-train Δ");
    grid.push_back(header);
    // The range of the accuracies' binomial SEs, for the footer.
    double se_min = 1, se_max = -1;
    auto note_se = [&](const MatrixRow& row) {
      for (int c = 0; c < m.eval_datasets_size(); ++c) {
        if (const Cell* cell = CellAt(row, c)) {
          se_min = std::min(se_min, cell->se());
          se_max = std::max(se_max, cell->se());
        }
      }
    };
    note_se(m.baseline());
    for (const MatrixRow& row : m.rows()) note_se(row);

    auto cell_text = [&](const MatrixRow& row, int col, bool with_delta) {
      const Cell* cell = CellAt(row, col);
      std::string acc = PadLeft(cell ? FormatPercent(cell->accuracy()) : "-", 5);
      if (!with_delta) return acc + std::string(6, ' ');
      std::optional<double> delta = CellDelta(m, row, col);
      std::string d = delta ? SignedPoints(*delta, 1) : "";
      return acc + " " + PadLeft(Colored(d, options.color), 5);
    };
    bool partial = false;  // a row whose job has not succeeded
    auto label = [&](const MatrixRow& row, std::string text) {
      if (row.job_state() != v1::JOB_STATE_UNSPECIFIED &&
          row.job_state() != v1::JOB_STATE_SUCCEEDED) {
        partial = true;
        absl::StrAppend(&text, " [", JobStateName(row.job_state()), "]");
      }
      return text;
    };
    std::vector<std::string> base = {label(m.baseline(), "pre-trained")};
    for (int c = 0; c < m.eval_datasets_size(); ++c) {
      base.push_back(cell_text(m.baseline(), c, false));
    }
    base.push_back("");
    base.push_back("");
    grid.push_back(base);
    for (const MatrixRow& row : m.rows()) {
      std::vector<std::string> line = {label(row, shorten(row.finetune_dataset()))};
      for (int c = 0; c < m.eval_datasets_size(); ++c) {
        line.push_back(cell_text(row, c, true));
      }
      line.push_back(row.has_ri()
                         ? absl::StrCat(Colored(SignedPoints(row.ri(), 2), options.color),
                                        " ", IntervalText(row.ri_ci_low(), row.ri_ci_high()))
                         : "-");
      line.push_back(row.has_pretrain_change()
                         ? Colored(SignedPoints(row.pretrain_change(), 1), options.color)
                         : "-");
      grid.push_back(line);
    }

    std::vector<size_t> widths(header.size(), 0);
    for (const auto& line : grid) {
      for (size_t c = 0; c < line.size(); ++c) {
        widths[c] = std::max(widths[c], DisplayWidth(line[c]));
      }
    }
    size_t last_data = header.size() - 2;  // first of the RI / pre-train columns
    for (const auto& line : grid) {
      std::string text;
      for (size_t c = 0; c < line.size(); ++c) {
        if (c > 0) text += "  ";
        // Labels and cells left-aligned (cells are padded inside); metrics right.
        text +=
            c >= last_data ? PadLeft(line[c], widths[c]) : PadRight(line[c], widths[c]);
      }
      while (!text.empty() && text.back() == ' ') text.pop_back();
      out << text << "\n";
    }
    out << "mRI "
        << (m.has_mri() ? absl::StrCat(Colored(SignedPoints(m.mri(), 2), options.color),
                                       " ", IntervalText(m.mri_ci_low(), m.mri_ci_high()))
                        : "-")
        << "  mean OOD accuracy "
        << (m.has_mean_ood() ? absl::StrCat(FormatPercent(m.mean_ood()), "% \xc2\xb1",
                                            FormatPercent(m.mean_ood_se()))
                             : "-")
        << (m.has_pre_mean_ood()
                ? absl::StrCat(" (pre-trained ", FormatPercent(m.pre_mean_ood()),
                               "% \xc2\xb1", FormatPercent(m.pre_mean_ood_se()), ")")
                : "")
        << "  mean pre-training change "
        << (m.has_mean_pretrain_change()
                ? Colored(SignedPoints(m.mean_pretrain_change(), 2), options.color)
                : "-");
    if (!m.pretrain_dataset().empty()) out << " (" << m.pretrain_dataset() << ")";
    out << "\n";
    if (m.seeds_size() >= 2) {
      out << "over " << m.seeds_size() << " seeds (" << absl::StrJoin(m.seeds(), ", ")
          << "), mean \xc2\xb1 sd: mRI "
          << (m.has_mri() ? absl::StrCat(SignedPoints(m.mri(), 2), " \xc2\xb1 ",
                                         absl::StrFormat("%.2f", m.mri_seed_sd() * 100))
                          : "-")
          << "  mean OOD accuracy "
          << (m.has_mean_ood() ? absl::StrCat(FormatPercent(m.mean_ood()), "% \xc2\xb1 ",
                                              FormatPercent(m.mean_ood_seed_sd()))
                               : "-")
          << "\n";
    }
    if (se_max >= 0) {
      out << "binomial SE of the accuracies " << FormatPercent(se_min) << " to "
          << FormatPercent(se_max)
          << " points (each cell's in -o json/csv); intervals: value \xc2\xb1 1.96 SE\n";
    }
    if (partial) {
      out << "rows marked [state]: their job has not succeeded; its cells are partial "
             "and enter no RI or mRI\n";
    }
  }
  return out.str();
}

std::string FormatCsv(const std::vector<Matrix>& matrices) {
  std::string out =
      "model,method,finetune_dataset,eval_dataset,accuracy,correct,total,skipped,delta,"
      "ri,"
      "pretrain_change,se,ri_se,ri_ci_low,ri_ci_high,otdd,"
      "ri_bootstrap_low,ri_bootstrap_high\n";
  for (const Matrix& m : matrices) {
    auto emit = [&](const MatrixRow& row, bool baseline) {
      for (int c = 0; c < m.eval_datasets_size(); ++c) {
        const Cell* cell = CellAt(row, c);
        if (cell == nullptr) continue;
        std::optional<double> delta = baseline ? std::nullopt : CellDelta(m, row, c);
        const bool ri = !baseline && row.has_ri();
        const bool boot = ri && row.has_ri_bootstrap();
        absl::StrAppend(
            &out, CsvField(m.model()), ",", CsvField(m.method()), ",",
            CsvField(baseline ? "" : row.finetune_dataset()), ",",
            CsvField(m.eval_datasets(c)), ",", Fraction(cell->accuracy()), ",",
            cell->correct(), ",", cell->total(), ",", cell->skipped(), ",",
            delta ? Fraction(*delta) : "", ",",
            !baseline && row.has_ri() ? Fraction(row.ri()) : "", ",",
            !baseline && row.has_pretrain_change() ? Fraction(row.pretrain_change()) : "",
            ",", Fraction(cell->se()), ",", ri ? Fraction(row.ri_se()) : "", ",",
            ri ? Fraction(row.ri_ci_low()) : "", ",",
            ri ? Fraction(row.ri_ci_high()) : "", ",",
            !baseline && row.has_otdd() ? absl::StrFormat("%.10g", row.otdd()) : "", ",",
            boot ? Fraction(row.ri_bootstrap_low()) : "", ",",
            boot ? Fraction(row.ri_bootstrap_high()) : "", "\n");
      }
    };
    emit(m.baseline(), true);
    for (const MatrixRow& row : m.rows()) emit(row, false);
  }
  return out;
}

std::string FormatJson(const std::vector<Matrix>& matrices) {
  JsonValue root = JsonValue::Array();
  for (const Matrix& m : matrices) {
    JsonValue rows = JsonValue::Array();
    const bool seeded = m.seeds_size() >= 2;
    for (const MatrixRow& row : m.rows()) {
      JsonValue json = JsonValue::Object();
      json.Set("finetune_dataset", JsonValue::String(row.finetune_dataset()));
      json.Set("job_state", JsonValue::String(JobStateName(row.job_state())));
      json.Set("cells", JsonCells(m, row, true));
      json.Set("ri", JsonOptional(row.has_ri(), row.ri()));
      json.Set("ri_se", JsonOptional(row.has_ri(), row.ri_se()));
      json.Set("ri_ci95", JsonInterval(row.has_ri(), row.ri_ci_low(), row.ri_ci_high()));
      json.Set("ri_seed_sd", JsonOptional(seeded && row.has_ri(), row.ri_seed_sd()));
      json.Set("ri_bootstrap95",
               JsonInterval(row.has_ri() && row.has_ri_bootstrap(),
                            row.ri_bootstrap_low(), row.ri_bootstrap_high()));
      json.Set("pretrain_change",
               JsonOptional(row.has_pretrain_change(), row.pretrain_change()));
      json.Set("otdd", JsonOptional(row.has_otdd(), row.otdd()));
      rows.Append(std::move(json));
    }
    JsonValue baseline = JsonValue::Object();
    baseline.Set("job_state", JsonValue::String(JobStateName(m.baseline().job_state())));
    baseline.Set("cells", JsonCells(m, m.baseline(), false));
    JsonValue json = JsonValue::Object();
    json.Set("model", JsonValue::String(m.model()));
    json.Set("method", JsonValue::String(m.method()));
    json.Set("pretrain_dataset", JsonValue::String(m.pretrain_dataset()));
    json.Set("eval_datasets", JsonValue::StringArray(
                                  {m.eval_datasets().begin(), m.eval_datasets().end()}));
    json.Set("baseline", std::move(baseline));
    json.Set("rows", std::move(rows));
    json.Set("mri", JsonOptional(m.has_mri(), m.mri()));
    json.Set("mri_se", JsonOptional(m.has_mri(), m.mri_se()));
    json.Set("mri_ci95", JsonInterval(m.has_mri(), m.mri_ci_low(), m.mri_ci_high()));
    json.Set("mri_bootstrap95",
             JsonInterval(m.has_mri() && m.has_mri_bootstrap(), m.mri_bootstrap_low(),
                          m.mri_bootstrap_high()));
    json.Set("mean_ood", JsonOptional(m.has_mean_ood(), m.mean_ood()));
    json.Set("mean_ood_se", JsonOptional(m.has_mean_ood(), m.mean_ood_se()));
    json.Set("pre_mean_ood", JsonOptional(m.has_pre_mean_ood(), m.pre_mean_ood()));
    json.Set("pre_mean_ood_se", JsonOptional(m.has_pre_mean_ood(), m.pre_mean_ood_se()));
    JsonValue seeds = JsonValue::Array();
    for (int64_t seed : m.seeds()) seeds.Append(JsonValue::Int(seed));
    json.Set("seeds", std::move(seeds));
    json.Set("mri_seed_sd", JsonOptional(seeded && m.has_mri(), m.mri_seed_sd()));
    json.Set("mean_ood_seed_sd",
             JsonOptional(seeded && m.has_mean_ood(), m.mean_ood_seed_sd()));
    json.Set("pre_mean_ood_seed_sd",
             JsonOptional(seeded && m.has_pre_mean_ood(), m.pre_mean_ood_seed_sd()));
    json.Set("mean_pretrain_change",
             JsonOptional(m.has_mean_pretrain_change(), m.mean_pretrain_change()));
    JsonValue corr = JsonValue::Null();
    if (m.has_otdd_correlation()) {
      const v1::OtddCorrelation& c = m.otdd_correlation();
      corr = JsonValue::Object();
      corr.Set("pearson", JsonValue::Number(c.pearson()));
      corr.Set("spearman", JsonValue::Number(c.spearman()));
      corr.Set("n", JsonValue::Int(c.n()));
      corr.Set("slope", JsonValue::Number(c.slope()));
      corr.Set("intercept", JsonValue::Number(c.intercept()));
    }
    json.Set("otdd_vs_pretrain_change", std::move(corr));
    root.Append(std::move(json));
  }
  JsonWriteOptions options;
  options.indent = 2;
  return WriteJson(root, options) + "\n";
}

std::string FormatLatex(const std::vector<Matrix>& matrices) {
  std::string out;
  bool first = true;
  for (const Matrix& m : matrices) {
    if (!first) out += "\n";
    first = false;
    int n = m.eval_datasets_size();
    absl::StrAppend(&out, "% ", m.model(), " / ", m.method(),
                    ": accuracy (%), change vs pre-trained in points\n");
    absl::StrAppend(&out, "\\begin{tabular}{l", std::string(n + 2, 'r'), "}\n\\hline\n");
    std::vector<std::string> header = {""};
    for (const std::string& e : m.eval_datasets()) header.push_back(LatexEscape(e));
    header.push_back("RI");
    header.push_back("$\\Delta$pre-train");
    absl::StrAppend(&out, absl::StrJoin(header, " & "), " \\\\\n\\hline\n");
    std::vector<std::string> base = {"pre-trained"};
    for (int c = 0; c < n; ++c) {
      const Cell* cell = CellAt(m.baseline(), c);
      base.push_back(cell ? FormatPercent(cell->accuracy()) : "--");
    }
    base.push_back("");
    base.push_back("");
    absl::StrAppend(&out, absl::StrJoin(base, " & "), " \\\\\n\\hline\n");
    for (const MatrixRow& row : m.rows()) {
      std::vector<std::string> line = {LatexEscape(row.finetune_dataset())};
      for (int c = 0; c < n; ++c) {
        const Cell* cell = CellAt(row, c);
        std::optional<double> delta = CellDelta(m, row, c);
        std::string text = cell ? FormatPercent(cell->accuracy()) : "--";
        if (delta) absl::StrAppend(&text, " ($", SignedPoints(*delta, 1), "$)");
        line.push_back(text);
      }
      line.push_back(row.has_ri() ? absl::StrCat("$", SignedPoints(row.ri(), 2), "$")
                                  : "--");
      line.push_back(row.has_pretrain_change()
                         ? absl::StrCat("$", SignedPoints(row.pretrain_change(), 1), "$")
                         : "--");
      absl::StrAppend(&out, absl::StrJoin(line, " & "), " \\\\\n");
    }
    absl::StrAppend(
        &out, "\\hline\n\\multicolumn{", n + 3, "}{l}{mRI ",
        m.has_mri() ? absl::StrCat("$", SignedPoints(m.mri(), 2), "$") : "--",
        ", mean OOD accuracy ",
        m.has_mean_ood() ? absl::StrCat(FormatPercent(m.mean_ood()), "\\%") : "--",
        ", mean pre-training change ",
        m.has_mean_pretrain_change()
            ? absl::StrCat("$", SignedPoints(m.mean_pretrain_change(), 2), "$")
            : "--",
        "} \\\\\n\\hline\n\\end{tabular}\n");
  }
  return out;
}

std::string FormatSeedsMarkdown(const std::vector<Matrix>& matrices) {
  std::vector<const Matrix*> seeded;
  for (const Matrix& m : matrices) {
    if (m.seeds_size() >= 2 && m.has_mri()) seeded.push_back(&m);
  }
  if (seeded.empty()) return "";
  auto summary = [](const Matrix& m) {
    return SeedSummary{m.mri(), m.mri_seed_sd(), m.mri_se(), m.seeds_size()};
  };
  std::string out =
      "\n## Over seeds\n\n| model | method | seeds | mRI mean \xc2\xb1 sd (points) | "
      "mean OOD accuracy mean \xc2\xb1 sd (%) |\n|---|---|---|---:|---:|\n";
  for (const Matrix* m : seeded) {
    absl::StrAppend(&out, "| ", m->model(), " | ", m->method(), " | ",
                    absl::StrJoin(m->seeds(), ", "), " | ", SignedPoints(m->mri(), 2),
                    " \xc2\xb1 ", absl::StrFormat("%.2f", m->mri_seed_sd() * 100), " | ",
                    m->has_mean_ood() ? absl::StrCat(FormatPercent(m->mean_ood()),
                                                     " \xc2\xb1 ",
                                                     FormatPercent(m->mean_ood_seed_sd()))
                                      : "n/a",
                    " |\n");
  }
  absl::StrAppend(&out,
                  "\n### mRI differences between methods\n\n"
                  "| model | methods | \xce\x94 mRI (points) | significant |\n"
                  "|---|---|---:|---|\n");
  for (size_t a = 0; a < seeded.size(); ++a) {
    for (size_t b = a + 1; b < seeded.size(); ++b) {
      if (seeded[a]->model() != seeded[b]->model()) continue;
      const bool significant =
          SignificantDifference(summary(*seeded[a]), summary(*seeded[b]));
      absl::StrAppend(&out, "| ", seeded[a]->model(), " | ", seeded[a]->method(), " vs ",
                      seeded[b]->method(), " | ",
                      SignedPoints(seeded[a]->mri() - seeded[b]->mri(), 2), " | ",
                      significant ? "**yes**" : "no", " |\n");
    }
  }
  absl::StrAppend(&out,
                  "\nSignificant: |\xce\x94 mean| > 2 \xc3\x97 sqrt(sd_a\xc2\xb2/K_a + "
                  "sd_b\xc2\xb2/K_b), the sds over the K seeds (a two-sample z test at about "
                  "95%).\n");
  return out;
}

namespace {

// The RI of each fine-tune dataset whose row has one.
std::map<std::string, double> RowRis(const Matrix& m) {
  std::map<std::string, double> out;
  for (const MatrixRow& row : m.rows()) {
    if (row.has_ri()) out[row.finetune_dataset()] = row.ri();
  }
  return out;
}

// One line of the findings table: the paired test of `differences` (fractions).
std::string FindingLine(const std::string& comparison,
                        const std::vector<double>& differences) {
  absl::StatusOr<PairedTest> test = PairedTTest(differences);
  if (!test.ok()) {
    return absl::StrCat("| ", comparison, " | ", differences.size(),
                        " | n/a | n/a | n/a (needs 2 or more fine-tune datasets) |\n");
  }
  const std::string p =
      test->p < 1e-4 ? "p < 0.0001" : absl::StrFormat("p = %.2g", test->p);
  return absl::StrCat(
      "| ", comparison, " | ", test->n, " | ", SignedPoints(test->mean, 2), " | ",
      std::isinf(test->t) ? (test->t > 0 ? "+inf" : "-inf") : absl::StrFormat("%+.2f", test->t),
      " (", test->df, ") | ", test->significant() ? "**significant**" : "not significant",
      " (", p, ") |\n");
}

}  // namespace

std::string FormatFindingsMarkdown(const std::vector<Matrix>& matrices) {
  std::vector<std::string> models;
  std::map<std::string, std::vector<const Matrix*>> by_model;
  for (const Matrix& m : matrices) {
    if (by_model.find(m.model()) == by_model.end()) models.push_back(m.model());
    by_model[m.model()].push_back(&m);
  }
  auto find = [&](const std::string& model, const std::string& method) -> const Matrix* {
    for (const Matrix* m : by_model[model]) {
      if (m->method() == method) return m;
    }
    return nullptr;
  };
  std::string lines;
  // Models: each against the first, per fine-tune dataset averaged over shared methods.
  for (size_t b = 1; b < models.size(); ++b) {
    std::vector<std::pair<std::map<std::string, double>, std::map<std::string, double>>>
        pairs;
    std::set<std::string> datasets;
    for (const Matrix* mb : by_model[models[b]]) {
      const Matrix* ma = find(models[0], mb->method());
      if (ma == nullptr) continue;
      pairs.emplace_back(RowRis(*ma), RowRis(*mb));
      for (const auto& [dataset, ri] : pairs.back().second) datasets.insert(dataset);
    }
    if (pairs.empty()) continue;
    std::vector<double> differences;
    for (const std::string& dataset : datasets) {
      double sum = 0;
      bool complete = true;
      for (const auto& [ra, rb] : pairs) {
        auto ia = ra.find(dataset), ib = rb.find(dataset);
        if (ia == ra.end() || ib == rb.end()) {
          complete = false;
          break;
        }
        sum += ib->second - ia->second;
      }
      if (complete) differences.push_back(sum / static_cast<double>(pairs.size()));
    }
    lines += FindingLine(absl::StrCat(models[b], " \xe2\x88\x92 ", models[0],
                                      " (mean over ", pairs.size(), " methods)"),
                         differences);
  }
  // Methods: each against ft, per model.
  for (const std::string& model : models) {
    const Matrix* ft = find(model, "ft");
    if (ft == nullptr) continue;
    const std::map<std::string, double> ft_ris = RowRis(*ft);
    for (const Matrix* m : by_model[model]) {
      if (m == ft) continue;
      std::vector<double> differences;
      for (const auto& [dataset, ri] : RowRis(*m)) {
        auto it = ft_ris.find(dataset);
        if (it != ft_ris.end()) differences.push_back(ri - it->second);
      }
      lines += FindingLine(absl::StrCat(model, ": ", m->method(), " \xe2\x88\x92 ft"),
                           differences);
    }
  }
  if (lines.empty()) return "";
  return absl::StrCat(
      "\n## Findings\n\n"
      "Does a model (each against the first) or a method (each against ft) keep more "
      "robustness? \xce\x94 RI per fine-tune dataset, tested by a paired t test over the "
      "fine-tune datasets (two-sided, \xce\xb1 = ",
      kSignificanceAlpha,
      "; each line on its own, no correction for the number of lines).\n\n"
      "| comparison | fine-tune datasets | mean \xce\x94 RI (points) | t (df) | verdict |\n"
      "|---|---:|---:|---:|---|\n",
      lines);
}

std::string FormatSummaryMarkdown(const std::vector<Matrix>& matrices,
                                  const std::string& title) {
  std::string out;
  if (!title.empty()) absl::StrAppend(&out, "# ", title, "\n\n");
  absl::StrAppend(&out,
                  "| model | method | mRI (points) | mRI 95% CI | mean OOD accuracy (%) | "
                  "\xc2\xb1 SE | pre-trained (%) | mean pre-training change (points) |\n"
                  "|---|---|---:|---:|---:|---:|---:|---:|\n");
  for (const Matrix& m : matrices) {
    absl::StrAppend(
        &out, "| ", m.model(), " | ", m.method(), " | ",
        m.has_mri() ? SignedPoints(m.mri(), 2) : "n/a", " | ",
        m.has_mri() ? IntervalText(m.mri_ci_low(), m.mri_ci_high()) : "n/a", " | ",
        m.has_mean_ood() ? FormatPercent(m.mean_ood()) : "n/a", " | ",
        m.has_mean_ood() ? FormatPercent(m.mean_ood_se()) : "n/a", " | ",
        m.has_pre_mean_ood() ? FormatPercent(m.pre_mean_ood()) : "n/a", " | ",
        m.has_mean_pretrain_change() ? SignedPoints(m.mean_pretrain_change(), 2) : "n/a",
        " |\n");
  }
  absl::StrAppend(&out,
                  "\n95% intervals are value \xc2\xb1 1.96 SE from the accuracies' binomial "
                  "standard errors, the cells taken as independent (not a bootstrap).\n");
  std::string boot;
  for (const Matrix& m : matrices) {
    if (!m.has_mri() || !m.has_mri_bootstrap()) continue;
    absl::StrAppend(&boot, "| ", m.model(), " | ", m.method(), " | ",
                    SignedPoints(m.mri(), 2), " | ",
                    IntervalText(m.mri_bootstrap_low(), m.mri_bootstrap_high()), " |\n");
  }
  if (!boot.empty()) {
    absl::StrAppend(&out,
                    "\nBootstrap over test images (1,000 resamples of the images, before "
                    "and after paired on the same images, a fixed seed):\n\n"
                    "| model | method | mRI (points) | mRI bootstrap 95% CI |\n"
                    "|---|---|---:|---:|\n",
                    boot);
  }
  absl::StrAppend(&out, FormatSeedsMarkdown(matrices));
  absl::StrAppend(&out, FormatFindingsMarkdown(matrices));
  return out;
}

absl::StatusOr<OutputFormat> ParseOutputFormat(const std::optional<std::string>& flag) {
  const std::string value = flag.value_or("table");
  if (value == "table" || value == "text") return OutputFormat::kTable;
  if (value == "json") return OutputFormat::kJson;
  if (value == "csv") return OutputFormat::kCsv;
  return absl::InvalidArgumentError(
      absl::StrCat("-o: unknown output '", value, "' (expected table, json or csv)"));
}

ListingCell TextCell(const std::string& text) {
  return ListingCell{text, JsonValue::String(text)};
}

ListingCell IntCell(int64_t n) { return ListingCell{absl::StrCat(n), JsonValue::Int(n)}; }

namespace {

std::string CsvValue(const JsonValue& v) {
  switch (v.type) {
    case JsonValue::Type::kNull:
      return "";
    case JsonValue::Type::kBool:
      return v.boolean ? "true" : "false";
    case JsonValue::Type::kString:
      return CsvField(v.text);
    default:
      return CsvField(WriteJson(v));
  }
}

}  // namespace

JsonValue ListingJson(const Listing& listing) {
  JsonValue array = JsonValue::Array();
  for (const auto& row : listing.rows) {
    JsonValue o = JsonValue::Object();
    for (size_t c = 0; c < row.size() && c < listing.keys.size(); ++c) {
      o.Set(listing.keys[c], row[c].value);
    }
    array.Append(std::move(o));
  }
  if (listing.single && array.array.size() == 1) return array.array[0];
  return array;
}

std::string FormatListing(const Listing& listing, OutputFormat format) {
  switch (format) {
    case OutputFormat::kTable: {
      if (listing.rows.empty()) return listing.empty_table + "\n";
      std::vector<std::vector<std::string>> rows(1);
      for (const std::string& title : listing.titles) {
        if (!title.empty()) rows[0].push_back(title);
      }
      for (const auto& row : listing.rows) {
        rows.emplace_back();
        for (size_t c = 0; c < row.size() && c < listing.titles.size(); ++c) {
          if (!listing.titles[c].empty()) rows.back().push_back(row[c].text);
        }
      }
      return Columns(rows);
    }
    case OutputFormat::kJson: {
      JsonWriteOptions options;
      options.indent = 2;
      return WriteJson(ListingJson(listing), options) + "\n";
    }
    case OutputFormat::kCsv: {
      std::vector<std::string> header;
      for (const std::string& k : listing.keys) header.push_back(CsvField(k));
      std::string out = absl::StrJoin(header, ",") + "\n";
      for (const auto& row : listing.rows) {
        std::vector<std::string> fields;
        for (const ListingCell& c : row) fields.push_back(CsvValue(c.value));
        absl::StrAppend(&out, absl::StrJoin(fields, ","), "\n");
      }
      return out;
    }
  }
  return "";
}

std::string Columns(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t c = 0; c < row.size(); ++c) {
      widths[c] = std::max(widths[c], DisplayWidth(row[c]));
    }
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t c = 0; c < row.size(); ++c) {
      if (c > 0) line += "  ";
      line += row[c];
      if (c + 1 < row.size()) line += std::string(widths[c] - DisplayWidth(row[c]), ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    out += line + "\n";
  }
  return out;
}

}  // namespace rib::client
