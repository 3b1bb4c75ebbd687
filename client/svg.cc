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

// ColorBrewer PuOr's ends: blue for gains, orange for losses (DeltaColor), and the
// first two series colours of the figures.
constexpr Rgb kGain = {0x21, 0x66, 0xac};
constexpr Rgb kLoss = {0xb3, 0x58, 0x06};

int Mix(int from, int to, double t) {
  return static_cast<int>(std::lround(from + (to - from) * t));
}

std::string Hex(const Rgb& c) { return absl::StrFormat("#%02x%02x%02x", c.r, c.g, c.b); }

// White mixed towards `to` by t in [0, 1].
std::string Tint(const Rgb& to, double t) {
  return Hex({Mix(255, to.r, t), Mix(255, to.g, t), Mix(255, to.b, t)});
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

// The SVG root and its white background.
std::string SvgOpen(int width, int height) {
  return absl::StrFormat(
      "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\">\n"
      "<rect class=\"background\" x=\"0\" y=\"0\" width=\"%d\" height=\"%d\" "
      "fill=\"#ffffff\"/>\n",
      width, height, width, height, width, height);
}

// "<text ...>escaped</text>\n"; `attrs` are extra attributes (anchor, weight, fill).
std::string Text(double x, double y, int size, const std::string& text,
                 const std::string& attrs = "") {
  return absl::StrFormat("<text x=\"%.1f\" y=\"%.1f\" font-size=\"%d\"%s>%s</text>\n", x,
                         y, size, attrs.empty() ? "" : " " + attrs, XmlEscape(text));
}

int TextWidth(const std::string& text) {
  return static_cast<int>(text.size()) * kCharWidth;
}

// The series of the bar and radar figures: "pre-trained", then each method in the
// order the matrices list them.
std::vector<std::string> MethodsOf(const std::vector<Matrix>& matrices) {
  std::vector<std::string> methods;
  for (const Matrix& m : matrices) {
    if (std::find(methods.begin(), methods.end(), m.method()) == methods.end())
      methods.push_back(m.method());
  }
  return methods;
}

// A vertical legend at (x, y): a swatch and a name per series, one per 18 px line.
std::string Legend(int x, int y, const std::vector<std::string>& methods) {
  std::string out = "<g class=\"legend\">\n";
  for (int i = -1; i < static_cast<int>(methods.size()); ++i) {
    const int top = y + (i + 1) * 18;
    absl::StrAppend(&out, "<rect class=\"swatch\" x=\"", x, "\" y=\"", top,
                    "\" width=\"12\" height=\"12\" fill=\"", SeriesColor(i), "\"/>\n",
                    Text(x + 18, top + 10, 11, i < 0 ? "pre-trained" : methods[i]));
  }
  return out + "</g>\n";
}

int LegendWidth(const std::vector<std::string>& methods) {
  int w = TextWidth("pre-trained");
  for (const std::string& m : methods) w = std::max(w, TextWidth(m));
  return w + 18 + kMargin;
}

}  // namespace

std::string DeltaColor(double delta, double scale) {
  // Blue for gains, orange for losses: ColorBrewer PuOr's ends, told apart under every
  // common colour-vision deficiency (as the dashboard's scale); the cell prints its
  // number too.
  return Tint(delta >= 0 ? kGain : kLoss, Intensity(delta, scale));
}

std::string SeriesColor(int index) {
  if (index < 0) return kSvgPretrainedColor;
  // PuOr's two ends, then Okabe & Ito's colour-blind-safe set (bluish green, reddish
  // purple, sky blue, yellow-orange, vermillion, black); repeats after eight.
  static constexpr Rgb kSeries[] = {kGain,
                                    kLoss,
                                    {0x00, 0x9e, 0x73},
                                    {0xcc, 0x79, 0xa7},
                                    {0x56, 0xb4, 0xe9},
                                    {0xe6, 0x9f, 0x00},
                                    {0xd5, 0x5e, 0x00},
                                    {0x00, 0x00, 0x00}};
  return Hex(kSeries[index % 8]);
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

  std::string out = SvgOpen(width, height);

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

// What the bars are: the width of the figure leaves room for it at 11 px.
constexpr char kBarSubtitle[] =
    "mean over the fine-tune datasets of the accuracy on the other evaluation datasets "
    "\xc2\xb7 error bars \xc2\xb1 1 binomial SE";

std::string RenderBarChartSvg(const std::vector<Matrix>& matrices) {
  const std::vector<std::string> methods = MethodsOf(matrices);
  std::vector<std::string> models;
  for (const Matrix& m : matrices) {
    if (std::find(models.begin(), models.end(), m.model()) == models.end())
      models.push_back(m.model());
  }
  const int bars = static_cast<int>(methods.size()) + 1;  // pre-trained + methods
  // Wide enough for "100.0" above each bar and for the model's name below the group.
  int group_width = bars * kSvgBarWidth;
  for (const std::string& m : models) group_width = std::max(group_width, TextWidth(m) + 8);
  const int plot_left = kMargin + 60;  // tick labels and the rotated axis title
  const int plot_top = kTitleHeight + 16;
  const int plot_width = std::max(
      120, static_cast<int>(models.size()) * (group_width + kSvgBarGroupGap) + kSvgBarGroupGap);
  const int legend_x = plot_left + plot_width + kMargin * 2;
  const int width = std::max(legend_x + LegendWidth(methods) + kMargin,
                             kMargin * 2 + static_cast<int>(sizeof(kBarSubtitle)) * 6);
  const int height = plot_top + kSvgBarPlotHeight + 44;
  const int plot_bottom = plot_top + kSvgBarPlotHeight;
  auto y_of = [&](double fraction) { return plot_bottom - fraction * kSvgBarPlotHeight; };

  std::string out = SvgOpen(width, height);
  absl::StrAppend(&out,
                  Text(kMargin, 18, 14, "Mean OOD accuracy before and after fine-tuning",
                       "font-weight=\"bold\""),
                  Text(kMargin, 34, 11, kBarSubtitle, "fill=\"#444444\""));
  // Axis: gridlines and ticks every 20 %, the title rotated along it.
  for (int pct = 0; pct <= 100; pct += 20) {
    const double y = y_of(pct / 100.0);
    absl::StrAppend(&out,
                    absl::StrFormat("<line class=\"grid\" data-value=\"%d\" x1=\"%d\" "
                                    "y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" stroke=\"%s\"/>\n",
                                    pct, plot_left, y, plot_left + plot_width, y,
                                    pct == 0 ? "#000000" : "#dddddd"),
                    Text(plot_left - 6, y + 4, 11, absl::StrCat(pct), "text-anchor=\"end\""));
  }
  const int axis_mid = (plot_top + plot_bottom) / 2;
  absl::StrAppend(&out, "<text class=\"axis-title\" x=\"", kMargin + 10, "\" y=\"",
                  axis_mid, "\" font-size=\"11\" text-anchor=\"middle\" transform=\"rotate(-90 ",
                  kMargin + 10, " ", axis_mid, ")\">mean OOD accuracy (%)</text>\n");

  for (size_t g = 0; g < models.size(); ++g) {
    const int group_left =
        plot_left + kSvgBarGroupGap + static_cast<int>(g) * (group_width + kSvgBarGroupGap);
    const int bars_left = group_left + (group_width - bars * kSvgBarWidth) / 2;
    absl::StrAppend(&out, Text(group_left + group_width / 2.0, plot_bottom + 18, 11,
                               models[g], "class=\"model-label\" text-anchor=\"middle\""));
    // The pre-trained bar comes from the model's first matrix (every method of a sweep
    // has the same fine-tune datasets, so the same pre_mean_ood).
    const Matrix* first = nullptr;
    for (const Matrix& m : matrices) {
      if (m.model() == models[g]) {
        first = &m;
        break;
      }
    }
    for (int b = 0; b < bars; ++b) {
      const std::string series = b == 0 ? "pre-trained" : methods[b - 1];
      const Matrix* m = nullptr;
      if (b == 0) {
        m = first;
      } else {
        for (const Matrix& c : matrices) {
          if (c.model() == models[g] && c.method() == series) m = &c;
        }
      }
      const bool has = m != nullptr && (b == 0 ? m->has_pre_mean_ood() : m->has_mean_ood());
      const int x = bars_left + b * kSvgBarWidth;
      const double cx = x + kSvgBarWidth / 2.0;
      if (!has) {
        absl::StrAppend(&out, Text(cx, plot_bottom - 4, 9, "n/a",
                                   "class=\"missing\" text-anchor=\"middle\""));
        continue;
      }
      const double value = b == 0 ? m->pre_mean_ood() : m->mean_ood();
      const double se = b == 0 ? m->pre_mean_ood_se() : m->mean_ood_se();
      const double top = y_of(value);
      absl::StrAppend(
          &out,
          absl::StrFormat("<rect class=\"bar\" data-model=\"%s\" data-series=\"%s\" "
                          "x=\"%d\" y=\"%.3f\" width=\"%d\" height=\"%.3f\" fill=\"%s\">"
                          "<title>%s</title></rect>\n",
                          XmlEscape(models[g]), XmlEscape(series), x + 1, top,
                          kSvgBarWidth - 2, plot_bottom - top, SeriesColor(b - 1),
                          XmlEscape(absl::StrCat(models[g], " / ", series, ": ",
                                                 FormatPercent(value), "% \xc2\xb1 ",
                                                 FormatPercent(se)))));
      // The error bar, clipped to the axis, with caps.
      const double hi = y_of(std::min(1.0, value + se));
      const double lo = y_of(std::max(0.0, value - se));
      absl::StrAppend(
          &out,
          absl::StrFormat("<path class=\"errorbar\" d=\"M%.1f %.3fV%.3fM%.1f %.3fH%.1fM%.1f "
                          "%.3fH%.1f\" stroke=\"#000000\" fill=\"none\"/>\n",
                          cx, hi, lo, cx - 4, hi, cx + 4, cx - 4, lo, cx + 4),
          Text(cx, hi - 4, 10, FormatPercent(value),
               "class=\"value\" text-anchor=\"middle\""));
    }
  }
  absl::StrAppend(&out, Legend(legend_x, plot_top, methods), "</svg>\n");
  return out;
}

std::string RenderRadarSvg(const std::vector<Matrix>& matrices, const std::string& model,
                           const std::string& finetune_dataset) {
  std::vector<Matrix> mine;
  for (const Matrix& m : matrices) {
    if (m.model() == model) mine.push_back(m);
  }
  const std::vector<std::string> methods = MethodsOf(mine);
  std::vector<std::string> axes;
  if (!mine.empty()) axes.assign(mine[0].eval_datasets().begin(), mine[0].eval_datasets().end());
  const std::string prefix = ColumnPrefix(axes);
  int label_room = 0;  // the longest axis label, left and right of the circle
  for (const std::string& a : axes) label_room = std::max(label_room, TextWidth(Shorten(a, prefix)));
  const double radius = kSvgRadarRadius;
  const double cx = kMargin + label_room + 8 + radius;
  const double cy = kTitleHeight + 24 + radius;
  const int legend_x = static_cast<int>(cx + radius + label_room + 8 + kMargin * 2);
  const int width = std::max(legend_x + LegendWidth(methods) + kMargin, 320);
  const int height = static_cast<int>(cy + radius + 28 + kMargin);
  const int n = static_cast<int>(axes.size());
  auto angle = [&](int k) { return -M_PI / 2 + 2 * M_PI * k / std::max(n, 1); };
  auto point = [&](int k, double fraction) {
    return std::make_pair(cx + radius * fraction * std::cos(angle(k)),
                          cy + radius * fraction * std::sin(angle(k)));
  };

  std::string out = SvgOpen(width, height);
  std::string title = absl::StrCat(model, " fine-tuned on ", finetune_dataset);
  std::string subtitle = "accuracy (%) per evaluation dataset";
  if (!prefix.empty()) absl::StrAppend(&subtitle, " \xc2\xb7 \"", prefix, "\" omitted");
  absl::StrAppend(&out, Text(kMargin, 18, 14, title, "font-weight=\"bold\""),
                  Text(kMargin, 34, 11, subtitle, "fill=\"#444444\""));
  // Rings every 25 %, labelled half way between the last axis and the first (upward)
  // one, away from the vertices on the axes.
  const double label_angle = -M_PI / 2 - M_PI / std::max(n, 2);
  for (int pct = 25; pct <= 100; pct += 25) {
    const double r = radius * pct / 100.0;
    absl::StrAppend(&out,
                    absl::StrFormat("<circle class=\"ring\" data-value=\"%d\" cx=\"%.1f\" "
                                    "cy=\"%.1f\" r=\"%.3f\" fill=\"none\" stroke=\"#dddddd\"/>\n",
                                    pct, cx, cy, radius * pct / 100.0),
                    Text(cx + r * std::cos(label_angle), cy + r * std::sin(label_angle) + 3,
                         9, absl::StrCat(pct),
                         "class=\"ring-label\" text-anchor=\"middle\" fill=\"#888888\""));
  }
  for (int k = 0; k < n; ++k) {
    auto [x, y] = point(k, 1.0);
    const double c = std::cos(angle(k));
    const char* anchor = c > 0.3 ? "start" : c < -0.3 ? "end" : "middle";
    auto [lx, ly] = point(k, 1.0 + 10.0 / radius);
    const double s = std::sin(angle(k));
    absl::StrAppend(&out,
                    absl::StrFormat("<line class=\"axis\" x1=\"%.1f\" y1=\"%.1f\" x2=\"%.1f\" "
                                    "y2=\"%.1f\" stroke=\"#bbbbbb\"/>\n",
                                    cx, cy, x, y),
                    Text(lx, ly + (s > 0.3 ? 10 : s < -0.3 ? -2 : 4), 11,
                         Shorten(axes[k], prefix),
                         absl::StrCat("class=\"axis-label\" text-anchor=\"", anchor, "\"")));
  }
  // One polygon per series whose row has every cell; the others are named as missing.
  std::vector<std::string> missing;
  for (int i = -1; i < static_cast<int>(methods.size()); ++i) {
    const std::string series = i < 0 ? "pre-trained" : methods[i];
    const MatrixRow* row = nullptr;
    for (const Matrix& m : mine) {
      if (i < 0) {
        row = &m.baseline();
        break;
      }
      if (m.method() != series) continue;
      for (const MatrixRow& r : m.rows()) {
        if (r.finetune_dataset() == finetune_dataset) row = &r;
      }
    }
    bool complete = row != nullptr && row->cells_size() == n && n > 0;
    for (int k = 0; complete && k < n; ++k) complete = row->cells(k).present();
    if (!complete) {
      missing.push_back(series);
      continue;
    }
    std::vector<std::string> points;
    std::string vertices;
    for (int k = 0; k < n; ++k) {
      const double acc = row->cells(k).accuracy();
      auto [x, y] = point(k, acc);
      points.push_back(absl::StrFormat("%.3f,%.3f", x, y));
      absl::StrAppend(&vertices,
                      absl::StrFormat("<circle class=\"vertex\" cx=\"%.3f\" cy=\"%.3f\" "
                                      "r=\"2.5\" fill=\"%s\"><title>%s</title></circle>\n",
                                      x, y, SeriesColor(i),
                                      XmlEscape(absl::StrCat(series, " \xe2\x86\x92 ", axes[k],
                                                             ": ", FormatPercent(acc), "%"))));
    }
    absl::StrAppend(&out, "<g class=\"series\" data-series=\"", XmlEscape(series), "\">\n",
                    absl::StrFormat("<polygon points=\"%s\" fill=\"%s\" fill-opacity=\"0.12\" "
                                    "stroke=\"%s\" stroke-width=\"1.5\"/>\n",
                                    absl::StrJoin(points, " "), SeriesColor(i),
                                    SeriesColor(i)),
                    vertices, "</g>\n");
  }
  absl::StrAppend(&out, Legend(legend_x, kTitleHeight + 8, methods));
  if (!missing.empty()) {
    absl::StrAppend(&out, Text(kMargin, height - kMargin, 10,
                               "not drawn (results incomplete): " + absl::StrJoin(missing, ", "),
                               "class=\"missing\" fill=\"#444444\""));
  }
  absl::StrAppend(&out, "</svg>\n");
  return out;
}

std::string RenderOtddScatterSvg(const std::vector<Matrix>& matrices) {
  struct Point {
    std::string model, dataset, method;
    double x, y;  // OTDD, change in points
  };
  const std::vector<std::string> methods = MethodsOf(matrices);
  std::vector<Point> points;
  std::string pretrain;
  for (const Matrix& m : matrices) {
    if (pretrain.empty()) pretrain = m.pretrain_dataset();
    for (const MatrixRow& row : m.rows()) {
      if (row.has_otdd() && row.has_pretrain_change())
        points.push_back({m.model(), row.finetune_dataset(), m.method(), row.otdd(),
                          100 * row.pretrain_change()});
    }
  }
  if (points.empty()) return "";
  double x0 = points[0].x, x1 = x0, y0 = points[0].y, y1 = y0;
  for (const Point& p : points) {
    x0 = std::min(x0, p.x);
    x1 = std::max(x1, p.x);
    y0 = std::min(y0, p.y);
    y1 = std::max(y1, p.y);
  }
  // 8 % padding; a single value gets a unit-wide range around it.
  auto pad = [](double& lo, double& hi) {
    const double span = hi > lo ? hi - lo : std::max(1.0, std::fabs(lo));
    lo -= 0.08 * span;
    hi += 0.08 * span;
  };
  pad(x0, x1);
  pad(y0, y1);
  constexpr int kLeft = 78, kTop = 44, kPlotW = 460, kPlotH = 300;
  const int width = kLeft + kPlotW + 2 * kMargin + 8;
  const int caption_top = kTop + kPlotH + 56;
  const int height = caption_top + 18 * static_cast<int>(methods.size()) + kMargin;
  auto px = [&](double x) { return kLeft + (x - x0) / (x1 - x0) * kPlotW; };
  auto py = [&](double y) { return kTop + kPlotH - (y - y0) / (y1 - y0) * kPlotH; };
  std::string out = SvgOpen(width, height);
  absl::StrAppend(&out,
                  Text(kMargin, 22, 14,
                       "OTDD vs change in " + pretrain + " accuracy after fine-tuning",
                       "font-weight=\"bold\""),
                  absl::StrFormat("<clipPath id=\"plot\"><rect x=\"%d\" y=\"%d\" "
                                  "width=\"%d\" height=\"%d\"/></clipPath>\n",
                                  kLeft, kTop, kPlotW, kPlotH),
                  absl::StrFormat("<rect class=\"frame\" x=\"%d\" y=\"%d\" width=\"%d\" "
                                  "height=\"%d\" fill=\"none\" stroke=\"#444444\"/>\n",
                                  kLeft, kTop, kPlotW, kPlotH));
  for (int k = 0; k <= 4; ++k) {  // ticks: five per axis, at the range's quarters
    const double xv = x0 + (x1 - x0) * k / 4, yv = y0 + (y1 - y0) * k / 4;
    absl::StrAppend(
        &out,
        absl::StrFormat("<line class=\"grid\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
                        "stroke=\"#e0e0e0\"/>\n",
                        px(xv), kTop, px(xv), kTop + kPlotH),
        absl::StrFormat("<line class=\"grid\" x1=\"%d\" y1=\"%.1f\" x2=\"%d\" y2=\"%.1f\" "
                        "stroke=\"#e0e0e0\"/>\n",
                        kLeft, py(yv), kLeft + kPlotW, py(yv)),
        Text(px(xv), kTop + kPlotH + 16, 10, absl::StrFormat("%.3g", xv),
             "text-anchor=\"middle\""),
        Text(kLeft - 6, py(yv) + 4, 10, absl::StrFormat("%+.1f", yv),
             "text-anchor=\"end\""));
  }
  if (y0 < 0 && y1 > 0) {
    absl::StrAppend(&out, absl::StrFormat("<line class=\"zero\" x1=\"%d\" y1=\"%.1f\" "
                                          "x2=\"%d\" y2=\"%.1f\" stroke=\"#888888\" "
                                          "stroke-dasharray=\"4 3\"/>\n",
                                          kLeft, py(0), kLeft + kPlotW, py(0)));
  }
  absl::StrAppend(
      &out,
      Text(kLeft + kPlotW / 2.0, kTop + kPlotH + 36, 11,
           "OTDD(" + pretrain + ", fine-tune set) on the pre-trained features",
           "text-anchor=\"middle\""),
      absl::StrFormat("<text x=\"16\" y=\"%.1f\" font-size=\"11\" text-anchor=\"middle\" "
                      "transform=\"rotate(-90 16 %.1f)\">%s</text>\n",
                      kTop + kPlotH / 2.0, kTop + kPlotH / 2.0,
                      XmlEscape("change in " + pretrain + " accuracy (points)")));
  for (size_t i = 0; i < methods.size(); ++i) {
    const Matrix* first = nullptr;
    for (const Matrix& m : matrices) {
      if (m.method() == methods[i]) {
        first = &m;
        break;
      }
    }
    const std::string color = SeriesColor(static_cast<int>(i));
    std::string caption = methods[i] + ": fewer than 3 (model, dataset) points with "
                                       "both values, or one is constant: no fit";
    if (first != nullptr && first->has_otdd_correlation()) {
      const auto& c = first->otdd_correlation();
      // The line is on the fraction scale of Matrix.otdd_correlation; y is in points.
      absl::StrAppend(
          &out, absl::StrFormat("<line class=\"fit\" data-method=\"%s\" x1=\"%.1f\" "
                                "y1=\"%.1f\" x2=\"%.1f\" y2=\"%.1f\" stroke=\"%s\" "
                                "stroke-width=\"1.5\" clip-path=\"url(#plot)\"/>\n",
                                XmlEscape(methods[i]), px(x0),
                                py(100 * (c.intercept() + c.slope() * x0)), px(x1),
                                py(100 * (c.intercept() + c.slope() * x1)), color));
      caption = absl::StrFormat("%s: Pearson r = %.2f, Spearman \xcf\x81 = %.2f, n = %d; "
                                "fit: change = %+.2f %+.3f \xc2\xb7 OTDD (points)",
                                methods[i], c.pearson(), c.spearman(), c.n(),
                                100 * c.intercept(), 100 * c.slope());
    }
    absl::StrAppend(&out,
                    absl::StrFormat("<rect class=\"swatch\" x=\"%d\" y=\"%d\" width=\"12\" "
                                    "height=\"12\" fill=\"%s\"/>\n",
                                    kMargin, caption_top + 18 * static_cast<int>(i) - 10,
                                    color),
                    Text(kMargin + 18, caption_top + 18 * static_cast<int>(i), 11,
                         caption, "class=\"caption\""));
  }
  for (const Point& p : points) {
    const int series = static_cast<int>(
        std::find(methods.begin(), methods.end(), p.method) - methods.begin());
    absl::StrAppend(
        &out,
        absl::StrFormat("<circle class=\"point\" data-model=\"%s\" data-dataset=\"%s\" "
                        "data-method=\"%s\" data-otdd=\"%.6g\" data-change=\"%.4f\" "
                        "cx=\"%.1f\" cy=\"%.1f\" r=\"4.5\" fill=\"%s\" "
                        "stroke=\"#ffffff\"><title>%s</title></circle>\n",
                        XmlEscape(p.model), XmlEscape(p.dataset), XmlEscape(p.method),
                        p.x, p.y / 100, px(p.x), py(p.y), SeriesColor(series),
                        XmlEscape(absl::StrFormat("%s / %s on %s: OTDD %.4g, change %+.1f "
                                                  "points",
                                                  p.model, p.method, p.dataset, p.x,
                                                  p.y))));
  }
  return out + "</svg>\n";
}

}  // namespace rib::client
