#include "client/svg.h"

#include <algorithm>
#include <cmath>
#include <optional>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "client/format.h"

namespace rib::client {
namespace {

using rib::v1::Matrix;
using rib::v1::MatrixRow;

constexpr int kTitleHeight = 42;
constexpr int kHeaderHeight = 22;
constexpr int kMargin = 12;
constexpr int kCharWidth = 7;     // approximate advance of the 11-12 px sans font
constexpr int kMetricWidth = 64;  // the RI column on the right

std::string Shorten(const std::string& name, const std::string& prefix) {
  return !prefix.empty() && name.rfind(prefix, 0) == 0 ? name.substr(prefix.size())
                                                       : name;
}

std::string XmlEscape(const std::string& text) {
  std::string out;
  for (char c : text) {
    switch (c) {
      case '&':
        out += "&amp;";
        break;
      case '<':
        out += "&lt;";
        break;
      case '>':
        out += "&gt;";
        break;
      case '"':
        out += "&quot;";
        break;
      default:
        out += c;
    }
  }
  return out;
}

struct Rgb {
  int r, g, b;
};

int Mix(int from, int to, double t) {
  return static_cast<int>(std::lround(from + (to - from) * t));
}

// Fraction of full colour of a delta on `scale` (for choosing the label colour).
double Intensity(double delta, double scale) {
  if (scale <= 0) scale = 1.0;
  return std::min(1.0, std::fabs(delta) / scale);
}

double AutoScale(const std::vector<Matrix>& matrices) {
  double scale = 0;
  for (const Matrix& m : matrices) {
    for (const MatrixRow& row : m.rows()) {
      for (int c = 0; c < m.eval_datasets_size(); ++c) {
        std::optional<double> d = CellDelta(m, row, c);
        if (d) scale = std::max(scale, std::fabs(*d));
      }
    }
  }
  return scale > 0 ? scale : 1.0;
}

}  // namespace

std::string DeltaColor(double delta, double scale) {
  // Blue for gains, orange for losses: ColorBrewer PuOr's ends, told apart under every
  // common colour-vision deficiency (as the dashboard's scale); the cell prints its
  // number too.
  const Rgb gain = {0x21, 0x66, 0xac};
  const Rgb loss = {0xb3, 0x58, 0x06};
  const Rgb& to = delta >= 0 ? gain : loss;
  double t = Intensity(delta, scale);
  return absl::StrFormat("#%02x%02x%02x", Mix(255, to.r, t), Mix(255, to.g, t),
                         Mix(255, to.b, t));
}

std::string RenderHeatmapSvg(const std::vector<Matrix>& matrices,
                             const SvgOptions& options) {
  const double scale =
      options.delta_scale > 0 ? options.delta_scale : AutoScale(matrices);
  const int cw = options.cell_width;
  const int ch = options.cell_height;

  // Every panel shares the width of the widest; heights add up.
  int width = 0;
  int height = kMargin;
  struct Panel {
    int top, label_width, cell_width;
    std::string prefix;
    std::string subtitle;  // the matrix's summary metrics
  };
  std::vector<Panel> panels;
  for (const Matrix& m : matrices) {
    std::vector<std::string> names(m.eval_datasets().begin(), m.eval_datasets().end());
    Panel p;
    p.prefix = ColumnPrefix(names);
    size_t longest_row = std::string("pre-trained").size();
    for (const MatrixRow& row : m.rows()) {
      longest_row =
          std::max(longest_row, Shorten(row.finetune_dataset(), p.prefix).size());
    }
    size_t longest_col = 0;
    for (const std::string& n : names) {
      longest_col = std::max(longest_col, Shorten(n, p.prefix).size());
    }
    p.label_width = static_cast<int>(longest_row) * kCharWidth + 12;
    p.cell_width = std::max(cw, static_cast<int>(longest_col) * kCharWidth + 8);
    p.top = height;
    std::vector<std::string> parts;
    if (m.has_mri()) parts.push_back("mRI " + FormatDelta(m.mri(), 2));
    if (m.has_mean_ood())
      parts.push_back("mean OOD " + FormatPercent(m.mean_ood()) + "%");
    if (m.has_mean_pretrain_change()) {
      parts.push_back("pre-training change " + FormatDelta(m.mean_pretrain_change(), 2));
    }
    if (!p.prefix.empty()) parts.push_back("\"" + p.prefix + "\" omitted");
    p.subtitle = absl::StrJoin(parts, " \xc2\xb7 ");  // middle dot
    width = std::max(width, kMargin * 2 + static_cast<int>(p.subtitle.size()) * 6);
    panels.push_back(p);
    int panel_width = kMargin * 2 + p.label_width +
                      p.cell_width * m.eval_datasets_size() + kMetricWidth;
    width = std::max(width, panel_width);
    height += kTitleHeight + kHeaderHeight + ch * (m.rows_size() + 1) + kMargin * 2;
  }
  width = std::max(width, 320);

  std::string out = absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n",
      width, height, width, height);
  absl::StrAppend(&out, "<rect class=\"background\" x=\"0\" y=\"0\" width=\"", width,
                  "\" height=\"", height, "\" fill=\"#ffffff\"/>\n");

  for (size_t i = 0; i < matrices.size(); ++i) {
    const Matrix& m = matrices[i];
    const Panel& p = panels[i];
    auto shorten = [&](const std::string& name) { return Shorten(name, p.prefix); };
    absl::StrAppend(&out, "<g class=\"panel\" data-model=\"", XmlEscape(m.model()),
                    "\" data-method=\"", XmlEscape(m.method()), "\">\n");
    absl::StrAppend(&out, "<text x=\"", kMargin, "\" y=\"", p.top + 16,
                    "\" font-size=\"14\" font-weight=\"bold\">",
                    XmlEscape(absl::StrCat(m.model(), " / ", m.method())), "</text>\n");
    absl::StrAppend(&out, "<text x=\"", kMargin, "\" y=\"", p.top + 33,
                    "\" font-size=\"11\" fill=\"#444444\">", XmlEscape(p.subtitle),
                    "</text>\n");
    const int grid_left = kMargin + p.label_width;
    const int grid_top = p.top + kTitleHeight + kHeaderHeight;
    for (int c = 0; c < m.eval_datasets_size(); ++c) {
      absl::StrAppend(&out, "<text x=\"", grid_left + c * p.cell_width + p.cell_width / 2,
                      "\" y=\"", grid_top - 6,
                      "\" font-size=\"11\" text-anchor=\"middle\">",
                      XmlEscape(shorten(m.eval_datasets(c))), "</text>\n");
    }
    absl::StrAppend(&out, "<text x=\"",
                    grid_left + m.eval_datasets_size() * p.cell_width + kMetricWidth / 2,
                    "\" y=\"", grid_top - 6,
                    "\" font-size=\"11\" text-anchor=\"middle\">RI</text>\n");

    std::string outlines;
    auto draw_row = [&](const MatrixRow& row, int r, bool baseline) {
      const int y = grid_top + r * ch;
      std::string label = baseline ? "pre-trained" : shorten(row.finetune_dataset());
      absl::StrAppend(&out, "<text x=\"", grid_left - 6, "\" y=\"", y + ch / 2 + 4,
                      "\" font-size=\"11\" text-anchor=\"end\">", XmlEscape(label),
                      "</text>\n");
      for (int c = 0; c < m.eval_datasets_size(); ++c) {
        const int x = grid_left + c * p.cell_width;
        const bool present = c < row.cells_size() && row.cells(c).present();
        std::optional<double> delta;
        if (!baseline) delta = CellDelta(m, row, c);
        std::string fill = !present   ? kSvgAbsentFill
                           : baseline ? kSvgBaselineFill
                           : delta    ? DeltaColor(*delta, scale)
                                      : kSvgAbsentFill;
        std::string tip = absl::StrCat(baseline ? "pre-trained" : row.finetune_dataset(),
                                       " \xe2\x86\x92 ", m.eval_datasets(c), ": ");
        if (present) {
          absl::StrAppend(&tip, FormatPercent(row.cells(c).accuracy()), "%");
          if (delta) absl::StrAppend(&tip, " (", FormatDelta(*delta), ")");
        } else {
          absl::StrAppend(&tip, "not available");
        }
        absl::StrAppend(&out, "<rect class=\"cell\" x=\"", x, "\" y=\"", y, "\" width=\"",
                        p.cell_width, "\" height=\"", ch, "\" fill=\"", fill,
                        "\" stroke=\"#ffffff\"><title>", XmlEscape(tip),
                        "</title></rect>\n");
        if (!baseline && row.finetune_dataset() == m.eval_datasets(c)) {
          // The in-distribution cell (evaluated on the fine-tune set) is outlined, as
          // in the paper's figures; drawn last so no neighbour covers the outline.
          absl::StrAppend(&outlines, "<rect class=\"diagonal\" x=\"", x + 1, "\" y=\"",
                          y + 1, "\" width=\"", p.cell_width - 2, "\" height=\"", ch - 2,
                          "\" fill=\"none\" stroke=\"#000000\" stroke-width=\"1.5\"/>\n");
        }
        if (!present) continue;
        const char* ink = delta && Intensity(*delta, scale) > 0.6 ? "#ffffff" : "#000000";
        const int cx = x + p.cell_width / 2;
        absl::StrAppend(&out, "<text x=\"", cx, "\" y=\"",
                        delta ? y + 17 : y + ch / 2 + 4,
                        "\" font-size=\"12\" text-anchor=\"middle\" fill=\"", ink, "\">",
                        FormatPercent(row.cells(c).accuracy()), "</text>\n");
        if (delta) {
          absl::StrAppend(&out, "<text x=\"", cx, "\" y=\"", y + 32,
                          "\" font-size=\"10\" text-anchor=\"middle\" fill=\"", ink,
                          "\">", FormatDelta(*delta), "</text>\n");
        }
      }
      if (!baseline && row.has_ri()) {
        absl::StrAppend(
            &out, "<text x=\"",
            grid_left + m.eval_datasets_size() * p.cell_width + kMetricWidth / 2,
            "\" y=\"", y + ch / 2 + 4, "\" font-size=\"12\" text-anchor=\"middle\">",
            FormatDelta(row.ri(), 2), "</text>\n");
      }
    };
    draw_row(m.baseline(), 0, true);
    for (int r = 0; r < m.rows_size(); ++r) draw_row(m.rows(r), r + 1, false);
    absl::StrAppend(&out, outlines);
    absl::StrAppend(&out, "</g>\n");
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

}  // namespace rib::client
