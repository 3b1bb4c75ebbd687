#include "common/flag_names.h"

namespace rib {

FlagArgs::FlagArgs(int argc, char** argv) : storage_(argv, argv + argc) {
  for (size_t i = 1; i < storage_.size(); ++i) {
    std::string& a = storage_[i];
    if (a.compare(0, 2, "--") != 0) continue;
    if (a.size() == 2) break;  // "--": the rest are not flags
    for (size_t k = 2; k < a.size() && a[k] != '='; ++k) {
      if (a[k] == '-') a[k] = '_';
    }
  }
  for (std::string& a : storage_) pointers_.push_back(a.data());
  pointers_.push_back(nullptr);
}

}  // namespace rib
