// SVG heatmaps of robustness-inheritance matrices: one panel per (model, method), one
// cell per (fine-tune dataset, evaluation dataset) plus the pre-trained baseline row,
// each cell coloured by its accuracy change vs the baseline and labelled with the
// accuracy (%) and the change (points). Pure functions; thread-compatible; no I/O.
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

// A standalone SVG document with one panel per matrix, stacked vertically. Each cell is
// a <rect class="cell" ...> with a <title> tooltip; labels are <text>.
std::string RenderHeatmapSvg(const std::vector<rib::v1::Matrix>& matrices,
                             const SvgOptions& options = {});

}  // namespace rib::client

#endif  // RIB_CLIENT_SVG_H_
