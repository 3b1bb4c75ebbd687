#include "tests/testing/test_env.h"

#include <cstdlib>
#include <filesystem>
#include <random>
#include <stdexcept>

namespace rib::testing {
namespace fs = std::filesystem;

ScratchDir::ScratchDir() {
  const char* tmp = std::getenv("TMPDIR");
  fs::path base = tmp != nullptr ? fs::path(tmp) : fs::temp_directory_path();
  std::random_device rd;
  for (int i = 0; i < 100; ++i) {
    fs::path p = base / ("rib-test-" + std::to_string(rd()));
    std::error_code ec;
    if (fs::create_directories(p, ec)) {
      path_ = p.string();
      return;
    }
  }
  throw std::runtime_error("cannot create a scratch directory under " + base.string());
}

ScratchDir::~ScratchDir() {
  std::error_code ec;
  fs::remove_all(path_, ec);
}

std::string SourceDir() {
  const char* s = std::getenv("RIB_SOURCE_DIR");
  return s != nullptr ? s : ".";
}

std::string SharedDataDir() {
  if (const char* s = std::getenv("RIB_SHARED_DATA")) return s;
  return (fs::path(SourceDir()) / ".." / "shared" / "data").lexically_normal().string();
}

std::string CachedDataRoot() {
  const char* binary = std::getenv("RIB_BINARY_DIR");
  std::string root = std::string(binary != nullptr ? binary : "/tmp") + "/test-data";
  std::filesystem::create_directories(root);
  return root;
}

std::string TestDatabaseUrl() {
  const char* s = std::getenv("RIB_TEST_DATABASE_URL");
  return s != nullptr ? s : "";
}

}  // namespace rib::testing
