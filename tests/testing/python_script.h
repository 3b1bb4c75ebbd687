// Tests whose reference files python3 writes at test time (torch, torchvision, PIL):
// which python3, skipping when it lacks the modules, and running a script of the tree.
#ifndef RIB_TESTS_TESTING_PYTHON_SCRIPT_H_
#define RIB_TESTS_TESTING_PYTHON_SCRIPT_H_

#include <cstdio>
#include <cstdlib>
#include <string>

#include "tests/testing/test_env.h"

namespace rib::testing {

// $RIB_PYTHON, else Debian's /usr/bin/python3 (the one with python3-torch).
inline std::string TestPython() {
  const char* env = std::getenv("RIB_PYTHON");
  return env != nullptr ? env : "/usr/bin/python3";
}

// Exits with kSkipExitCode (the whole test binary is reported skipped) when
// TestPython() cannot `import <modules>` (e.g. "torch, torchvision").
inline void SkipUnlessPythonHas(const std::string& modules) {
  const std::string cmd = TestPython() + " -c 'import " + modules + "' >/dev/null 2>&1";
  if (std::system(cmd.c_str()) != 0) {
    std::fprintf(stderr, "no python3 with %s: skipping\n", modules.c_str());
    std::exit(kSkipExitCode);
  }
}

// Runs TestPython() on `script` (relative to the source tree) with `args`, stdout and
// stderr into `log`; returns std::system's status (0 = success).
inline int RunPythonScript(const std::string& script, const std::string& args,
                           const std::string& log) {
  const std::string cmd = TestPython() + " " + SourceDir() + "/" + script + " " + args +
                          " > " + log + " 2>&1";
  return std::system(cmd.c_str());
}

}  // namespace rib::testing

#endif  // RIB_TESTS_TESTING_PYTHON_SCRIPT_H_
