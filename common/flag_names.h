// Command-line flag spelling shared by rib's binaries. Pure function, thread-compatible.
#ifndef RIB_COMMON_FLAG_NAMES_H_
#define RIB_COMMON_FLAG_NAMES_H_

namespace rib {

// rib documents its flags with dashes (--data-root); Abseil's flag names use underscores
// (--data_root). Rewrites, in place, the name part of every "--name" / "--name=value"
// argument after argv[0] (never its value) from dashes to underscores, so both spellings
// work. Stops at a bare "--".
void NormalizeFlagNames(int argc, char** argv);

}  // namespace rib

#endif  // RIB_COMMON_FLAG_NAMES_H_
