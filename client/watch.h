// Renders the live events of one sweep (WatchSweep) for a person: a progress bar per
// running job, redrawn in place on a terminal (plain lines otherwise), each accuracy as
// it lands, and the jobs' final states. Thread-compatible: one thread feeds events.
#ifndef RIB_CLIENT_WATCH_H_
#define RIB_CLIENT_WATCH_H_

#include <map>
#include <optional>
#include <ostream>
#include <set>
#include <string>

#include "rib/v1/coordinator.pb.h"

namespace rib::client {

struct WatchOptions {
  // Redraw the progress bars in place with ANSI cursor movement. Default false (plain
  // lines, one per 10% of a job's progress, for logs and pipes).
  bool terminal = false;
  // Also print per-subset accuracies (the 75 ImageNet-C subsets of each job). Default
  // false: only whole-dataset accuracies.
  bool show_subsets = false;
  // Width of a progress bar in characters. Default 30.
  int bar_width = 30;
  // At most this many bars are drawn on a terminal; the rest are counted. Default 20.
  int max_bars = 20;
  // Terminal width in columns: bar lines are cut to fit, since a wrapped line would
  // break the in-place redraw. Default 80.
  int width = 80;
};

class WatchPrinter {
 public:
  // `out` must outlive the printer.
  WatchPrinter(std::ostream* out, WatchOptions options);

  void OnEvent(const rib::v1::SweepEvent& event);
  // Prints a line of the watcher's own (e.g. "reconnecting") above the bars.
  void Note(const std::string& line) { Log(line); }
  // Removes the progress bars from a terminal; call once the stream has ended.
  void Finish();

  // The sweep's final state, once its last event arrived.
  std::optional<rib::v1::SweepState> final_state() const { return final_state_; }
  // Who caused the final state (the user who cancelled the sweep); "" when the
  // coordinator did, or before the final state.
  const std::string& final_actor() const { return final_actor_; }
  // Jobs by their latest known state.
  std::map<rib::v1::JobState, int> StateCounts() const;
  int jobs_seen() const { return static_cast<int>(jobs_.size()); }

 private:
  struct JobView {
    std::string label;
    rib::v1::JobState state = rib::v1::JOB_STATE_UNSPECIFIED;
    bool seen_active = false;  // seen in a non-terminal state during this stream
    std::optional<rib::v1::JobProgress> progress;
    int printed_decile = -1;  // plain mode: last 10% step printed
    int printed_epoch = -1;
  };

  JobView& Job(const rib::v1::SweepEvent& event);
  void Log(const std::string& line);
  void ClearBars();
  void DrawBars();
  // The bar and numbers of a job; the bar shrinks to fit `available` columns (0 = no
  // limit).
  std::string Bar(const JobView& job, int available = 0) const;

  std::ostream* out_;
  WatchOptions options_;
  std::map<std::string, JobView> jobs_;  // by job id
  std::optional<rib::v1::SweepState> final_state_;
  std::string final_actor_;
  int drawn_lines_ = 0;
};

// Fraction of a job's work done according to a progress event, in [0, 1].
double ProgressFraction(const rib::v1::JobProgress& progress);

// "running", "succeeded", ... (the enum name without its prefix, lower case).
std::string JobStateName(rib::v1::JobState state);
std::string SweepStateName(rib::v1::SweepState state);

}  // namespace rib::client

#endif  // RIB_CLIENT_WATCH_H_
