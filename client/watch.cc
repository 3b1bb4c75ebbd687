#include "client/watch.h"

#include <algorithm>
#include <cmath>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/time/time.h"
#include "client/format.h"

namespace rib::client {
namespace {

using rib::v1::JobState;
using rib::v1::SweepEvent;

bool IsTerminal(JobState s) {
  return s == rib::v1::JOB_STATE_SUCCEEDED || s == rib::v1::JOB_STATE_FAILED ||
         s == rib::v1::JOB_STATE_CANCELLED;
}

std::string StripPrefix(const std::string& name, const std::string& prefix) {
  std::string out = name.rfind(prefix, 0) == 0 ? name.substr(prefix.size()) : name;
  absl::AsciiStrToLower(&out);
  return out;
}

std::string TimePrefix(const SweepEvent& event) {
  if (!event.has_time() || event.time().seconds() <= 0) return "";
  absl::Time t = absl::FromUnixSeconds(event.time().seconds());
  return absl::StrCat("[", absl::FormatTime("%H:%M:%S", t, absl::LocalTimeZone()), "] ");
}

}  // namespace

double ProgressFraction(const rib::v1::JobProgress& p) {
  double f = 0;
  if (p.steps() > 0) {
    f = static_cast<double>(p.step()) / static_cast<double>(p.steps());
  } else if (p.epochs() > 0) {
    f = static_cast<double>(p.epoch()) / static_cast<double>(p.epochs());
  }
  return std::clamp(f, 0.0, 1.0);
}

std::string JobStateName(rib::v1::JobState state) {
  return StripPrefix(rib::v1::JobState_Name(state), "JOB_STATE_");
}

std::string SweepStateName(rib::v1::SweepState state) {
  return StripPrefix(rib::v1::SweepState_Name(state), "SWEEP_STATE_");
}

WatchPrinter::WatchPrinter(std::ostream* out, WatchOptions options)
    : out_(out), options_(options) {}

WatchPrinter::JobView& WatchPrinter::Job(const SweepEvent& event) {
  JobView& job = jobs_[event.job_id()];
  if (!event.job_label().empty()) job.label = event.job_label();
  if (job.label.empty()) job.label = event.job_id();
  return job;
}

void WatchPrinter::OnEvent(const SweepEvent& event) {
  const std::string when = TimePrefix(event);
  switch (event.event_case()) {
    case SweepEvent::kState: {
      JobView& job = Job(event);
      const JobState prev = job.state;
      const JobState next = event.state();
      if (next == prev) break;  // repeated by a reconnect's snapshot
      job.state = next;
      if (!IsTerminal(next)) {
        // A job seen only as terminal came from the snapshot: count it, say nothing.
        const bool first_seen =
            !job.seen_active && prev == rib::v1::JOB_STATE_UNSPECIFIED;
        job.seen_active = true;
        if (next == rib::v1::JOB_STATE_RUNNING) {
          job.progress.reset();
          job.printed_decile = -1;
          job.printed_epoch = -1;
          Log(absl::StrCat(when, job.label, ": running"));
        } else if (!first_seen && prev == rib::v1::JOB_STATE_RUNNING) {
          Log(absl::StrCat(when, job.label, ": ", JobStateName(next),
                           event.error().empty() ? "" : " (" + event.error() + ")"));
        } else {
          DrawBars();
        }
        break;
      }
      if (next == rib::v1::JOB_STATE_FAILED) {
        Log(absl::StrCat(when, job.label, ": failed",
                         event.error().empty() ? "" : ": " + event.error()));
      } else if (job.seen_active) {
        // Who cancelled it, when someone did (not the coordinator itself).
        const bool by = next == rib::v1::JOB_STATE_CANCELLED && !event.actor().empty();
        Log(absl::StrCat(when, job.label, ": ", JobStateName(next),
                         by ? " by " + event.actor() : ""));
      } else {
        DrawBars();
      }
      break;
    }
    case SweepEvent::kProgress: {
      JobView& job = Job(event);
      job.progress = event.progress();
      if (job.state != rib::v1::JOB_STATE_RUNNING) {
        job.state = rib::v1::JOB_STATE_RUNNING;
        job.seen_active = true;
      }
      if (options_.terminal) {
        DrawBars();
        break;
      }
      const rib::v1::JobProgress& p = event.progress();
      int decile = static_cast<int>(std::floor(ProgressFraction(p) * 10.0 + 1e-9));
      if (decile > job.printed_decile || p.epoch() != job.printed_epoch) {
        job.printed_decile = decile;
        job.printed_epoch = p.epoch();
        Log(absl::StrCat(when, job.label, ": ", Bar(job)));
      }
      break;
    }
    case SweepEvent::kResult: {
      const rib::v1::Accuracy& a = event.result();
      if (!a.subset().empty() && !options_.show_subsets) break;
      JobView& job = Job(event);
      std::string name = a.dataset();
      if (!a.subset().empty()) absl::StrAppend(&name, "[", a.subset(), "]");
      std::string line = absl::StrCat(when, job.label, ": ", name, " ");
      if (a.total() > 0) {
        absl::StrAppend(&line,
                        FormatPercent(static_cast<double>(a.correct()) /
                                      static_cast<double>(a.total())),
                        "% (", a.correct(), "/", a.total(), ")");
      } else {
        absl::StrAppend(&line, "n/a (0 images)");
      }
      if (a.skipped() > 0) absl::StrAppend(&line, ", ", a.skipped(), " skipped");
      Log(line);
      break;
    }
    case SweepEvent::kSweepState:
      final_state_ = event.sweep_state();
      final_actor_ = event.actor();
      ClearBars();
      break;
    case SweepEvent::EVENT_NOT_SET:
      break;
  }
}

void WatchPrinter::Finish() {
  ClearBars();
  out_->flush();
}

std::map<rib::v1::JobState, int> WatchPrinter::StateCounts() const {
  std::map<rib::v1::JobState, int> counts;
  for (const auto& [id, job] : jobs_) ++counts[job.state];
  return counts;
}

void WatchPrinter::Log(const std::string& line) {
  ClearBars();
  *out_ << line << "\n";
  DrawBars();
}

void WatchPrinter::ClearBars() {
  if (!options_.terminal) return;
  for (; drawn_lines_ > 0; --drawn_lines_) *out_ << "\x1b[1A\x1b[2K";
  out_->flush();
}

void WatchPrinter::DrawBars() {
  if (!options_.terminal || final_state_) return;
  ClearBars();
  std::vector<const JobView*> running;
  for (const auto& [id, job] : jobs_) {
    if (job.state == rib::v1::JOB_STATE_RUNNING) running.push_back(&job);
  }
  std::sort(running.begin(), running.end(),
            [](const JobView* a, const JobView* b) { return a->label < b->label; });
  size_t label_width = 0;
  for (const JobView* job : running)
    label_width = std::max(label_width, job->label.size());
  int shown = 0;
  for (const JobView* job : running) {
    if (shown == options_.max_bars) {
      *out_ << "  ... and " << running.size() - shown << " more running\n";
      ++drawn_lines_;
      break;
    }
    std::string line = absl::StrCat(
        "  ", job->label, std::string(label_width - job->label.size(), ' '), "  ");
    const int max_width = std::max(options_.width - 1, 20);
    absl::StrAppend(&line, Bar(*job, max_width - static_cast<int>(line.size())));
    if (line.size() > static_cast<size_t>(max_width)) line.resize(max_width);
    *out_ << line << "\n";
    ++drawn_lines_;
    ++shown;
  }
  out_->flush();
}

std::string WatchPrinter::Bar(const JobView& job, int available) const {
  double f = job.progress ? ProgressFraction(*job.progress) : 0.0;
  std::string details = absl::StrFormat(" %3d%%", static_cast<int>(f * 100.0));
  if (job.progress) {
    const rib::v1::JobProgress& p = *job.progress;
    // The engine counts epochs from 0 (worker/engine/events.h); people count from 1.
    if (p.epochs() > 0) {
      absl::StrAppend(&details, "  epoch ", std::min(p.epoch() + 1, p.epochs()), "/",
                      p.epochs());
    }
    if (p.steps() > 0) absl::StrAppend(&details, "  step ", p.step(), "/", p.steps());
    absl::StrAppend(&details, absl::StrFormat("  loss %.4f", p.loss()));
  }
  // The bar gives up width (down to 10) before the numbers do.
  int width = options_.bar_width;
  if (available > 0) {
    width = std::clamp(available - 2 - static_cast<int>(details.size()), 10,
                       options_.bar_width);
  }
  int filled = static_cast<int>(f * width);
  return absl::StrCat("[", std::string(filled, '#'), std::string(width - filled, '-'),
                      "]", details);
}

}  // namespace rib::client
