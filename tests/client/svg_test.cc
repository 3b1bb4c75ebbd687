// The SVG heatmap of `rib matrix --svg`: one rect per cell, fills by delta vs baseline.
#include "client/svg.h"

#include <cmath>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/client/test_matrix.h"

namespace rib::client {
namespace {

using ::rib::client::testing::KnownMatrix;
using ::testing::HasSubstr;

// Tooltip title ("fmnist-a → fmnist-v2: 77.0% (-3.0)") -> fill, for every cell rect.
std::map<std::string, std::string> CellFills(const std::string& svg) {
  std::map<std::string, std::string> fills;
  const std::string open = "<rect class=\"cell\"";
  for (size_t pos = svg.find(open); pos != std::string::npos;
       pos = svg.find(open, pos + 1)) {
    size_t end = svg.find("</rect>", pos);
    std::string rect = svg.substr(pos, end - pos);
    size_t f = rect.find("fill=\"") + 6;
    size_t t = rect.find("<title>") + 7;
    fills[rect.substr(t, rect.find("</title>") - t)] =
        rect.substr(f, rect.find('"', f) - f);
  }
  return fills;
}

size_t Count(const std::string& text, const std::string& what) {
  size_t n = 0;
  for (size_t p = text.find(what); p != std::string::npos; p = text.find(what, p + 1))
    ++n;
  return n;
}

TEST(DeltaColorTest, DivergingScale) {
  EXPECT_EQ(DeltaColor(0.0, 0.1), "#ffffff");
  EXPECT_EQ(DeltaColor(0.1, 0.1), "#2166ac");   // saturated blue (a gain)
  EXPECT_EQ(DeltaColor(0.5, 0.1), "#2166ac");   // clamped
  EXPECT_EQ(DeltaColor(-0.1, 0.1), "#b35806");  // saturated orange (a loss)
  // Half way: 255 + (0xb3 - 255) / 2 = 217 = 0xd9, 255 + (0x58 - 255) / 2 = 171.5 -> 172,
  // 255 + (0x06 - 255) / 2 = 130.5 -> 131.
  EXPECT_EQ(DeltaColor(-0.05, 0.1), "#d9ac83");
}

TEST(HeatmapSvgTest, OneRectPerCellColouredByDelta) {
  std::string svg = RenderHeatmapSvg({KnownMatrix()});
  ASSERT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);
  EXPECT_THAT(svg, HasSubstr("</svg>\n"));
  EXPECT_EQ(Count(svg, "<rect class=\"cell\""), 9u);  // (baseline + 2 rows) x 3 columns
  EXPECT_EQ(Count(svg, "<g class=\"panel\""), 1u);
  EXPECT_EQ(Count(svg, "<rect class=\"diagonal\""), 2u);  // v2 -> v2 and a -> a

  std::map<std::string, std::string> fills = CellFills(svg);
  ASSERT_EQ(fills.size(), 9u);
  // The scale is the largest |delta|, 20 points (a -> a), which is fully blue.
  EXPECT_EQ(fills.at("fmnist-a \xe2\x86\x92 fmnist-a: 70.0% (+20.0)"), "#2166ac");
  // -5 points is a quarter of the scale: 255 - 76/4 = 236, 255 - 167/4 = 213.25 -> 213,
  // 255 - 249/4 = 192.75 -> 193.
  EXPECT_EQ(fills.at("fmnist-a \xe2\x86\x92 fmnist-val: 85.0% (-5.0)"), "#ecd5c1");
  // +5 points: 255 - 222/4 = 199.5 -> 200, 255 - 153/4 = 216.75 -> 217,
  // 255 - 83/4 = 234.25 -> 234.
  EXPECT_EQ(fills.at("fmnist-v2 \xe2\x86\x92 fmnist-v2: 85.0% (+5.0)"), "#c8d9ea");
  EXPECT_EQ(fills.at("pre-trained \xe2\x86\x92 fmnist-v2: 80.0%"), kSvgBaselineFill);

  // Labels: accuracies and deltas, short column names, the RI values.
  EXPECT_THAT(svg, HasSubstr(">70.0</text>"));
  EXPECT_THAT(svg, HasSubstr(">+20.0</text>"));
  EXPECT_THAT(svg, HasSubstr("text-anchor=\"middle\">v2</text>"));
  EXPECT_THAT(svg, HasSubstr(">-3.00</text>"));
  EXPECT_THAT(svg, HasSubstr(">vit / ft</text>"));
  EXPECT_THAT(svg,
              HasSubstr(">mRI -0.50 \xc2\xb7 mean OOD 64.5% \xc2\xb7 pre-training change "
                        "-3.50 \xc2\xb7 &quot;fmnist-&quot; omitted</text>"));
}

TEST(HeatmapSvgTest, PanelPerMatrixAndAbsentCells) {
  rib::v1::Matrix second = KnownMatrix("resnet", "lp");
  second.mutable_rows(0)->mutable_cells(2)->set_present(false);
  SvgOptions options;
  options.delta_scale = 0.05;
  std::string svg = RenderHeatmapSvg({KnownMatrix(), second}, options);
  EXPECT_EQ(Count(svg, "<g class=\"panel\""), 2u);
  EXPECT_EQ(Count(svg, "<rect class=\"cell\""), 18u);
  std::map<std::string, std::string> fills = CellFills(svg);
  EXPECT_EQ(fills.at("fmnist-v2 \xe2\x86\x92 fmnist-a: not available"), kSvgAbsentFill);
  // With a fixed scale of 5 points, +5 is saturated.
  EXPECT_EQ(fills.at("fmnist-v2 \xe2\x86\x92 fmnist-v2: 85.0% (+5.0)"), "#2166ac");
  EXPECT_THAT(svg, HasSubstr("data-model=\"resnet\" data-method=\"lp\""));
}

TEST(HeatmapSvgTest, EscapesNames) {
  std::string svg = RenderHeatmapSvg({KnownMatrix("a<b>&c", "ft")});
  EXPECT_THAT(svg, HasSubstr(">a&lt;b&gt;&amp;c / ft</text>"));
}

// ---- The paper's figures: parsed back, not compared as text ----

// Every element `<tag ...>` whose opening tag contains `marker`, as its opening tag.
std::vector<std::string> Elements(const std::string& svg, const std::string& tag,
                                  const std::string& marker = "") {
  std::vector<std::string> out;
  const std::string open = "<" + tag + " ";
  for (size_t pos = svg.find(open); pos != std::string::npos;
       pos = svg.find(open, pos + 1)) {
    std::string element = svg.substr(pos, svg.find('>', pos) - pos + 1);
    if (element.find(marker) != std::string::npos) out.push_back(element);
  }
  return out;
}

std::string Attr(const std::string& element, const std::string& name) {
  const std::string key = " " + name + "=\"";
  size_t start = element.find(key);
  if (start == std::string::npos) return "";
  start += key.size();
  return element.substr(start, element.find('"', start) - start);
}

double Num(const std::string& element, const std::string& name) {
  return std::stod(Attr(element, name));
}

// The text of every <text> element, in document order, with its x and y.
struct TextItem {
  double x, y;
  std::string text;
};
std::vector<TextItem> Texts(const std::string& svg) {
  std::vector<TextItem> out;
  for (size_t pos = svg.find("<text "); pos != std::string::npos;
       pos = svg.find("<text ", pos + 1)) {
    const size_t body = svg.find('>', pos) + 1;
    const std::string open = svg.substr(pos, body - pos);
    out.push_back({Num(open, "x"), Num(open, "y"),
                   svg.substr(body, svg.find("</text>", body) - body)});
  }
  return out;
}

bool HasText(const std::vector<TextItem>& texts, const std::string& text) {
  for (const TextItem& t : texts) {
    if (t.text == text) return true;
  }
  return false;
}

// Pixel coordinates are printed with 3 decimals: a fraction of the 240 px axis is
// exact to 0.0005 / 240.
constexpr double kPx = 1e-3;

TEST(BarChartSvgTest, BarHeightsAreTheValuesOnTheAxisScale) {
  rib::v1::Matrix ft = KnownMatrix("vit", "ft");
  rib::v1::Matrix lp = KnownMatrix("vit", "lp");
  lp.set_mean_ood(0.71);
  lp.set_mean_ood_se(0.01);
  rib::v1::Matrix resnet = KnownMatrix("resnet50", "ft");
  resnet.set_pre_mean_ood(0.42);
  resnet.set_mean_ood(0.385);
  const std::string svg = RenderBarChartSvg({ft, lp, resnet});
  ASSERT_EQ(svg.rfind("<svg xmlns=\"http://www.w3.org/2000/svg\"", 0), 0u);

  // The axis: 0 % at the bottom, 100 % at the top.
  double y0 = -1, y100 = -1;
  for (const std::string& line : Elements(svg, "line", "class=\"grid\"")) {
    if (Attr(line, "data-value") == "0") y0 = Num(line, "y1");
    if (Attr(line, "data-value") == "100") y100 = Num(line, "y1");
  }
  ASSERT_GT(y0, y100);
  EXPECT_NEAR(y0 - y100, kSvgBarPlotHeight, kPx);

  // Two models: vit has pre-trained + ft + lp; resnet50 has pre-trained + ft and no lp
  // matrix, so its lp bar is "n/a".
  std::map<std::pair<std::string, std::string>, std::string> bars;
  for (const std::string& bar : Elements(svg, "rect", "class=\"bar\"")) {
    bars[{Attr(bar, "data-model"), Attr(bar, "data-series")}] = bar;
  }
  ASSERT_EQ(bars.size(), 5u);
  const std::map<std::pair<std::string, std::string>, double> want = {
      {{"vit", "pre-trained"}, 0.65},
      {{"vit", "ft"}, 0.645},
      {{"vit", "lp"}, 0.71},
      {{"resnet50", "pre-trained"}, 0.42},
      {{"resnet50", "ft"}, 0.385}};
  for (const auto& [key, value] : want) {
    ASSERT_EQ(bars.count(key), 1u) << key.first << " / " << key.second;
    const std::string& bar = bars[key];
    EXPECT_NEAR(Num(bar, "height") / (y0 - y100), value, kPx / kSvgBarPlotHeight)
        << key.first << " / " << key.second;
    EXPECT_NEAR(Num(bar, "y") + Num(bar, "height"), y0, kPx);  // standing on the axis
  }
  EXPECT_EQ(Attr(bars[{"vit", "pre-trained"}], "fill"), kSvgPretrainedColor);
  EXPECT_EQ(Attr(bars[{"vit", "ft"}], "fill"), SeriesColor(0));
  EXPECT_EQ(Attr(bars[{"vit", "lp"}], "fill"), SeriesColor(1));
  EXPECT_NE(SeriesColor(0), SeriesColor(1));

  // Error bars span value ± se: lp's 71 % ± 1 point.
  std::vector<std::string> errorbars = Elements(svg, "path", "class=\"errorbar\"");
  ASSERT_EQ(errorbars.size(), 5u);
  bool found_lp = false;
  for (const std::string& e : errorbars) {
    double x, hi, lo;
    ASSERT_EQ(std::sscanf(Attr(e, "d").c_str(), "M%lf %lfV%lf", &x, &hi, &lo), 3) << e;
    const double top = (y0 - hi) / (y0 - y100), bottom = (y0 - lo) / (y0 - y100);
    if (std::fabs((top + bottom) / 2 - 0.71) < 1e-6) {
      found_lp = true;
      EXPECT_NEAR(top - bottom, 0.02, 2 * kPx / kSvgBarPlotHeight);
    }
  }
  EXPECT_TRUE(found_lp);

  // Labels: title, axis title, models, legend, values; the missing bar says n/a.
  std::vector<TextItem> texts = Texts(svg);
  for (const char* label : {"Mean OOD accuracy before and after fine-tuning",
                            "mean OOD accuracy (%)", "vit", "resnet50", "pre-trained",
                            "ft", "lp", "65.0", "64.5", "71.0", "42.0", "38.5", "n/a", "100"}) {
    EXPECT_TRUE(HasText(texts, label)) << label;
  }
  // Value labels above neighbouring bars are at least one "100.0" (5 x 6 px) apart.
  std::vector<TextItem> values;
  for (const std::string& v : Elements(svg, "text", "class=\"value\"")) {
    values.push_back({Num(v, "x"), Num(v, "y"), ""});
  }
  ASSERT_EQ(values.size(), 5u);
  for (size_t i = 0; i < values.size(); ++i) {
    for (size_t j = i + 1; j < values.size(); ++j) {
      EXPECT_GE(std::fabs(values[i].x - values[j].x), 30.0);
    }
  }
}

TEST(BarChartSvgTest, MissingValuesAreMarkedNotDrawn) {
  rib::v1::Matrix m = KnownMatrix();
  m.set_has_mean_ood(false);
  const std::string svg = RenderBarChartSvg({m});
  std::vector<std::string> bars = Elements(svg, "rect", "class=\"bar\"");
  ASSERT_EQ(bars.size(), 1u);
  EXPECT_EQ(Attr(bars[0], "data-series"), "pre-trained");
  EXPECT_EQ(Elements(svg, "text", "class=\"missing\"").size(), 1u);
}

TEST(RadarSvgTest, OnePolygonPerSeriesWithAVertexPerAxisAtItsAccuracy) {
  rib::v1::Matrix ft = KnownMatrix("vit", "ft");
  rib::v1::Matrix lp = KnownMatrix("vit", "lp");
  lp.mutable_rows(0)->mutable_cells(1)->set_accuracy(0.95);  // v2 -> v2
  const std::string svg = RenderRadarSvg({ft, lp}, "vit", "fmnist-v2");

  double cx = 0, cy = 0, radius = 0;
  for (const std::string& ring : Elements(svg, "circle", "class=\"ring\"")) {
    if (Attr(ring, "data-value") == "100") {
      cx = Num(ring, "cx");
      cy = Num(ring, "cy");
      radius = Num(ring, "r");
    }
  }
  ASSERT_GT(radius, 0);
  EXPECT_EQ(Elements(svg, "line", "class=\"axis\"").size(), 3u);

  // Series: pre-trained (the baseline row), ft and lp (their fmnist-v2 rows).
  const std::map<std::string, std::vector<double>> want = {
      {"pre-trained", {0.90, 0.80, 0.50}}, {"ft", {0.88, 0.85, 0.52}},
      {"lp", {0.88, 0.95, 0.52}}};
  EXPECT_EQ(Elements(svg, "polygon").size(), 3u);
  for (const auto& [series, accs] : want) {
    const std::string open = "<g class=\"series\" data-series=\"" + series + "\">";
    const size_t start = svg.find(open);
    ASSERT_NE(start, std::string::npos) << series;
    const std::string group = svg.substr(start, svg.find("</g>", start) - start);
    std::vector<std::string> vertices = Elements(group, "circle", "class=\"vertex\"");
    ASSERT_EQ(vertices.size(), 3u) << series;
    for (size_t k = 0; k < 3; ++k) {
      const double dx = Num(vertices[k], "cx") - cx, dy = Num(vertices[k], "cy") - cy;
      EXPECT_NEAR(std::hypot(dx, dy) / radius, accs[k], 1e-4) << series << " axis " << k;
    }
    const std::string stroke = series == "pre-trained" ? std::string(kSvgPretrainedColor)
                               : series == "ft"        ? SeriesColor(0)
                                                       : SeriesColor(1);
    EXPECT_EQ(Attr(Elements(group, "polygon")[0], "stroke"), stroke) << series;
  }
  // The first axis points up.
  const std::string first =
      Elements(svg.substr(svg.find("data-series=\"pre-trained\"")), "circle")[0];
  EXPECT_NEAR(Num(first, "cx"), cx, kPx);
  EXPECT_LT(Num(first, "cy"), cy);

  std::vector<TextItem> texts = Texts(svg);
  for (const char* label : {"vit fine-tuned on fmnist-v2", "val", "v2", "a",
                            "pre-trained", "ft", "lp", "50", "100"}) {
    EXPECT_TRUE(HasText(texts, label)) << label;
  }
  // Legend lines do not overlap: 18 px apart.
  std::vector<std::string> swatches = Elements(svg, "rect", "class=\"swatch\"");
  ASSERT_EQ(swatches.size(), 3u);
  EXPECT_NEAR(Num(swatches[1], "y") - Num(swatches[0], "y"), 18, kPx);
}

TEST(RadarSvgTest, IncompleteRowIsNamedNotDrawn) {
  rib::v1::Matrix ft = KnownMatrix("vit", "ft");
  ft.mutable_rows(1)->mutable_cells(0)->set_present(false);  // a -> val
  const std::string svg = RenderRadarSvg({ft}, "vit", "fmnist-a");
  EXPECT_EQ(Elements(svg, "polygon").size(), 1u);  // the pre-trained one
  EXPECT_NE(svg.find(">not drawn (results incomplete): ft</text>"), std::string::npos);
}

// A numeric attribute of the first element at or after `from`.
double Attr(const std::string& svg, size_t from, const std::string& name) {
  size_t a = svg.find(" " + name + "=\"", from) + name.size() + 3;
  return std::stod(svg.substr(a, svg.find('"', a) - a));
}

rib::v1::Matrix OtddMatrix(const std::string& model, const std::string& method,
                           std::vector<std::pair<double, double>> points) {
  rib::v1::Matrix m;
  m.set_model(model);
  m.set_method(method);
  m.set_pretrain_dataset("fmnist-val");
  for (size_t i = 0; i < points.size(); ++i) {
    rib::v1::MatrixRow* row = m.add_rows();
    row->set_finetune_dataset("d" + std::to_string(i));
    row->set_has_otdd(true);
    row->set_otdd(points[i].first);
    row->set_has_pretrain_change(true);
    row->set_pretrain_change(points[i].second);
  }
  m.add_rows()->set_finetune_dataset("no-otdd");  // no point for it
  return m;
}

TEST(OtddScatterSvgTest, OnePointPerRowOnTheFittedLineWithTheCaption) {
  // Points exactly on change = 0.01 − 0.02 · otdd: each must sit on the drawn line.
  std::vector<rib::v1::Matrix> ms = {OtddMatrix("m1", "ft", {{1, -0.01}, {2, -0.03}}),
                                     OtddMatrix("m2", "ft", {{4, -0.07}})};
  for (rib::v1::Matrix& m : ms) {
    auto* c = m.mutable_otdd_correlation();
    c->set_pearson(-1);
    c->set_spearman(-1);
    c->set_n(3);
    c->set_slope(-0.02);
    c->set_intercept(0.01);
  }
  const std::string svg = RenderOtddScatterSvg(ms);
  ASSERT_EQ(Count(svg, "<circle class=\"point\""), 3u);
  EXPECT_THAT(svg, HasSubstr("data-model=\"m2\" data-dataset=\"d0\" data-method=\"ft\" "
                             "data-otdd=\"4\" data-change=\"-0.0700\""));
  EXPECT_THAT(svg, HasSubstr("ft: Pearson r = -1.00, Spearman \xcf\x81 = -1.00, n = 3"));
  const size_t line = svg.find("<line class=\"fit\" data-method=\"ft\"");
  ASSERT_NE(line, std::string::npos);
  const double x1 = Attr(svg, line, "x1"), y1 = Attr(svg, line, "y1");
  const double x2 = Attr(svg, line, "x2"), y2 = Attr(svg, line, "y2");
  double last_cx = 0;
  for (size_t p = svg.find("<circle class=\"point\""); p != std::string::npos;
       p = svg.find("<circle class=\"point\"", p + 1)) {
    const double cx = Attr(svg, p, "cx"), cy = Attr(svg, p, "cy");
    EXPECT_GT(cx, last_cx);  // larger OTDD further right
    last_cx = cx;
    // On the line within the 0.1 px rounding of the coordinates.
    EXPECT_NEAR(cy, y1 + (y2 - y1) * (cx - x1) / (x2 - x1), 0.3);
  }
}

TEST(OtddScatterSvgTest, NoFitIsSaidAndNoOtddIsNoFigure) {
  const std::string svg = RenderOtddScatterSvg({OtddMatrix("m", "lp", {{1, 0.0}})});
  EXPECT_EQ(Count(svg, "<circle class=\"point\""), 1u);
  EXPECT_EQ(Count(svg, "class=\"fit\""), 0u);
  EXPECT_THAT(svg, HasSubstr("lp: fewer than 3"));
  EXPECT_EQ(RenderOtddScatterSvg({OtddMatrix("m", "lp", {})}), "");
}

}  // namespace
}  // namespace rib::client
