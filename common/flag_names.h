// Command-line flag spelling shared by rib's binaries. Thread-compatible.
#ifndef RIB_COMMON_FLAG_NAMES_H_
#define RIB_COMMON_FLAG_NAMES_H_

#include <string>
#include <vector>

namespace rib {

// rib documents its flags with dashes (--data-root); Abseil's flag names use underscores
// (--data_root). A copy of argv in which the name part of every "--name" /
// "--name=value" argument after argv[0] (never its value) has its dashes turned into
// underscores, so both spellings work; a bare "--" ends the rewriting. argv itself is
// left as typed: rewriting it in place would change /proc/<pid>/cmdline, which ps, the
// worker's supervision and the e2e tests read (they find rank processes by "--job-file").
//
//   rib::FlagArgs args(argc, argv);
//   absl::ParseCommandLine(args.argc(), args.argv());
class FlagArgs {
 public:
  FlagArgs(int argc, char** argv);
  FlagArgs(const FlagArgs&) = delete;
  FlagArgs& operator=(const FlagArgs&) = delete;

  int argc() const { return static_cast<int>(storage_.size()); }
  char** argv() { return pointers_.data(); }  // null-terminated, like main's

 private:
  std::vector<std::string> storage_;
  std::vector<char*> pointers_;
};

}  // namespace rib

#endif  // RIB_COMMON_FLAG_NAMES_H_
