#include "common/paths.h"

#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "common/hash.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"
#include "tests/testing/test_env.h"

namespace rib {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::AllOf;
using ::testing::HasSubstr;
namespace fs = std::filesystem;

TEST(ValidateName, AcceptsDatasetKeysAndRejectsTraversal) {
  EXPECT_THAT(ValidateName("imagenet-c", "dataset"), IsOk());
  EXPECT_THAT(ValidateName("..", "dataset"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("dataset")));
  EXPECT_THAT(ValidateName("a/b", "dataset"), StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ValidateName("", "dataset"), StatusIs(absl::StatusCode::kInvalidArgument));
}

TEST(ResolveUnder, KeepsPathsInsideRoot) {
  EXPECT_EQ(*ResolveUnder("/data", "imagenet/val", "data"), "/data/imagenet/val");
  EXPECT_EQ(*ResolveUnder("/data/", "/data/x.safetensors", "weights"), "/data/x.safetensors");
  EXPECT_THAT(ResolveUnder("/data", "../etc/passwd", "weights"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("weights")));
  EXPECT_THAT(ResolveUnder("/data", "a/../../b", "weights"),
              StatusIs(absl::StatusCode::kInvalidArgument));
  EXPECT_THAT(ResolveUnder("/data", "/etc/passwd", "weights"),
              StatusIs(absl::StatusCode::kInvalidArgument));
}

// An artifact root with root/models/m.safetensors, and a secret file beside the root
// (outside it) that a sweep must not be able to name.
class OpenUnderTest : public ::testing::Test {
 protected:
  OpenUnderTest() : root_(dir_.Join("root")), secret_(dir_.Join("secret")) {
    fs::create_directories(root_ + "/models");
    std::ofstream(root_ + "/models/m.safetensors") << "weights";
    std::ofstream(secret_) << "the secret";
  }

  // Everything the descriptor reads.
  static std::string ReadAll(const InputFile& file) {
    std::string out(file.size(), '\0');
    EXPECT_EQ(::pread(file.fd(), out.data(), out.size(), 0),
              static_cast<ssize_t>(out.size()));
    return out;
  }

  ::rib::testing::ScratchDir dir_;
  const std::string root_;
  const std::string secret_;
};

TEST_F(OpenUnderTest, OpensRegularFilesInsideTheRoot) {
  RIB_ASSERT_OK_AND_ASSIGN(InputFile rel, OpenUnder(root_, "models/m.safetensors", "w"));
  EXPECT_EQ(ReadAll(rel), "weights");
  EXPECT_EQ(rel.path(), root_ + "/models/m.safetensors");
  RIB_ASSERT_OK_AND_ASSIGN(InputFile abs,
                           OpenUnder(root_, root_ + "/models/m.safetensors", "w"));
  EXPECT_EQ(ReadAll(abs), "weights");
  // The /proc path names the opened file for libraries that open by name.
  std::string via_proc;
  std::getline(std::ifstream(abs.ProcPath()), via_proc);
  EXPECT_EQ(via_proc, "weights");
}

TEST_F(OpenUnderTest, SymlinksThatStayInsideTheRootWork) {
  fs::create_symlink("models/m.safetensors", root_ + "/relative-link");
  fs::create_symlink(root_ + "/models/m.safetensors", root_ + "/absolute-link");
  fs::create_directories(root_ + "/other");
  fs::create_symlink("../models/m.safetensors", root_ + "/other/up-link");
  RIB_ASSERT_OK_AND_ASSIGN(InputFile a, OpenUnder(root_, "relative-link", "w"));
  EXPECT_EQ(ReadAll(a), "weights");
  RIB_ASSERT_OK_AND_ASSIGN(InputFile c, OpenUnder(root_, "other/up-link", "w"));
  EXPECT_EQ(ReadAll(c), "weights");
  // An absolute target is resolved from "/", which is outside the root: refused even
  // when it names a file inside (RESOLVE_BENEATH), as the worker may mount the root
  // elsewhere. Relative links are the way to link inside the root.
  EXPECT_THAT(OpenUnder(root_, "absolute-link", "w"),
              StatusIs(absl::StatusCode::kPermissionDenied, HasSubstr("absolute-link")));
}

TEST_F(OpenUnderTest, SymlinksLeavingTheRootAreRefusedNamingThePath) {
  fs::create_symlink(secret_, root_ + "/models/evil.safetensors");
  fs::create_symlink("../../secret", root_ + "/models/up.safetensors");
  fs::create_directory_symlink(dir_.path(), root_ + "/models/dir");
  fs::create_symlink("/proc/self/root" + secret_, root_ + "/models/proc.safetensors");
  for (const char* path : {"models/evil.safetensors", "models/up.safetensors",
                           "models/dir/secret", "models/proc.safetensors"}) {
    EXPECT_THAT(OpenUnder(root_, path, "model 'm' weights"),
                StatusIs(absl::StatusCode::kPermissionDenied,
                         AllOf(HasSubstr("model 'm' weights"), HasSubstr(path),
                               HasSubstr("outside its root"))))
        << path;
  }
}

TEST_F(OpenUnderTest, LexicalEscapesAndMissingFiles) {
  EXPECT_THAT(OpenUnder(root_, "../secret", "w"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("../secret")));
  EXPECT_THAT(OpenUnder(root_, secret_, "w"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("is outside")));
  EXPECT_THAT(OpenUnder(root_, "models/none.safetensors", "w"),
              StatusIs(absl::StatusCode::kNotFound,
                       AllOf(HasSubstr("models/none.safetensors"), HasSubstr("does not exist"))));
  EXPECT_THAT(OpenUnder(root_, "", "w"), StatusIs(absl::StatusCode::kInvalidArgument));
}

// A FIFO would block an open() and a read() forever; it is refused as soon as it is
// opened (O_NONBLOCK, then fstat). If it were not, this test would hang, not fail.
TEST_F(OpenUnderTest, FifosAndDirectoriesAreNotRegularFiles) {
  ASSERT_EQ(::mkfifo((root_ + "/models/fifo.safetensors").c_str(), 0600), 0);
  EXPECT_THAT(OpenUnder(root_, "models/fifo.safetensors", "w"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       AllOf(HasSubstr("fifo.safetensors"),
                             HasSubstr("is not a regular file (it is a FIFO)"))));
  EXPECT_THAT(OpenUnder(root_, "models", "w"),
              StatusIs(absl::StatusCode::kInvalidArgument,
                       HasSubstr("is not a regular file (it is a directory)")));
  EXPECT_THAT(OpenRegularFile(root_ + "/models/fifo.safetensors", "w"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a FIFO")));
  EXPECT_THAT(Sha256File(root_ + "/models/fifo.safetensors"),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("a FIFO")));
  EXPECT_THAT(OpenRegularFile(root_ + "/none", "w"),
              StatusIs(absl::StatusCode::kNotFound, HasSubstr("none")));
}

TEST(Sha256, FileAndDescriptorAgree) {
  ::rib::testing::ScratchDir dir;
  std::ofstream(dir.Join("f")) << "abc";
  RIB_ASSERT_OK_AND_ASSIGN(InputFile file, OpenRegularFile(dir.Join("f"), "f"));
  // sha256("abc"), FIPS 180-2's example.
  const std::string abc = "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad";
  EXPECT_EQ(*Sha256Fd(file.fd(), "f"), abc);
  EXPECT_EQ(*Sha256File(dir.Join("f")), abc);
}

}  // namespace
}  // namespace rib
