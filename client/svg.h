// SVG figures of robustness-inheritance matrices. Heatmaps: one panel per (model,
// method), one cell per (fine-tune dataset, evaluation dataset) plus the pre-trained
// baseline row, each cell coloured by its accuracy change vs the baseline and labelled
// with the accuracy (%) and the change (points). The paper's figures: the bar chart of
// mean OOD accuracy before and after fine-tuning, and a radar plot per fine-tune
// dataset. Pure functions; thread-compatible; no I/O.
#ifndef RIB_CLIENT_SVG_H_
#define RIB_CLIENT_SVG_H_

#include <string>
#include <vector>

#include "rib/v1/coordinator.pb.h"

namespace rib::client {

struct SvgOptions {
  // The |delta| (a fraction) at which the colour saturates. Default 0 = the largest
  // |delta| in the figure, so the strongest change is always fully coloured and all
  // panels of one figure share one scale.
  double delta_scale = 0.0;
  // Cell size in pixels. Default 76 x 40: room for "100.0" and "+10.0" at 11-12 px.
  int cell_width = 76;
  int cell_height = 40;
};

// Fill of the baseline row's cells and of absent cells.
inline constexpr char kSvgBaselineFill[] = "#eeeeee";
inline constexpr char kSvgAbsentFill[] = "#ffffff";

// "#rrggbb" for a change `delta` (fraction) on a scale where |delta| >= scale is fully
// coloured: white at 0, towards blue (#2166ac) when positive, orange (#b35806) when
// negative (ColorBrewer PuOr's ends, colour-blind-safe; the dashboard uses the same).
// `scale` <= 0 is treated as 1.
std::string DeltaColor(double delta, double scale);

// The colour of series `index` in the bar and radar figures: -1 = the pre-trained
// model (kSvgPretrainedColor), then methods in order: PuOr's blue and orange ends (the
// DeltaColor scale's), then the Okabe-Ito colour-blind-safe colours; repeats after 8.
inline constexpr char kSvgPretrainedColor[] = "#8c8c8c";
std::string SeriesColor(int index);

// A standalone SVG document with one panel per matrix, stacked vertically. Each cell is
// a <rect class="cell" ...> with a <title> tooltip; labels are <text>.
std::string RenderHeatmapSvg(const std::vector<rib::v1::Matrix>& matrices,
                             const SvgOptions& options = {});

// Geometry of the bar chart: each bar's width (room for "100.0" at 10 px above it), the
// gap between model groups, and the plot's height, which is 100 % accuracy.
inline constexpr int kSvgBarWidth = 34;
inline constexpr int kSvgBarGroupGap = 24;
inline constexpr int kSvgBarPlotHeight = 240;
inline constexpr int kSvgRadarRadius = 150;

// The paper's headline figure: per model a group of bars, the pre-trained model's mean
// OOD accuracy (Matrix.pre_mean_ood) then each method's after fine-tuning (mean_ood),
// both averaged over the fine-tune datasets, with ±1 standard-error bars (the
// matrices' binomial SEs). The y axis runs from 0 to 100 % over kSvgBarPlotHeight px,
// with gridlines <line class="grid" data-value="PCT"> every 20 %. Each bar is
// <rect class="bar" data-model data-series> (series "pre-trained" or the method) with
// a <title>; a value that is not available yet is a text "n/a" instead. A legend on
// the right names the series by colour (SeriesColor).
std::string RenderBarChartSvg(const std::vector<rib::v1::Matrix>& matrices);

// A radar plot of `model` fine-tuned on `finetune_dataset`: an axis per evaluation
// dataset (the matrices' columns, radius = accuracy from 0 to 100 %, rings every 25 %),
// and a polygon per series (<g class="series" data-series>, one <circle class="vertex">
// per axis): the pre-trained baseline row and each method's row of that dataset.
// A series whose row is incomplete is not drawn and is named in a note instead.
std::string RenderRadarSvg(const std::vector<rib::v1::Matrix>& matrices,
                           const std::string& model, const std::string& finetune_dataset);

// The paper's §5 figure: OTDD(pre-training set, fine-tune set) on x against the
// change of the pre-training-set accuracy after fine-tuning (points) on y, one
// <circle class="point" data-model data-dataset data-method data-otdd data-change>
// with a <title> per (model, dataset) row that has both, coloured by method
// (SeriesColor); per method the least-squares line of Matrix.otdd_correlation
// (<line class="fit" data-method>, clipped to the plot) and a caption line
// "method: r = …, ρ = …, n = …" (or why there is none). "" when no row has both
// values (nothing to draw).
std::string RenderOtddScatterSvg(const std::vector<rib::v1::Matrix>& matrices);

}  // namespace rib::client

#endif  // RIB_CLIENT_SVG_H_
