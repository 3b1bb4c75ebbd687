// The SVG heatmap of `rib matrix --svg`: one rect per cell, fills by delta vs baseline.
#include "client/svg.h"

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

}  // namespace
}  // namespace rib::client
