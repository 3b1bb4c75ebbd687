// Which weights are TorchScript (code, refused unless allowed) and which are a torch.save
// state_dict (data): told from the zip's central directory, not from the name.
#include "spec/weights_format.h"

#include <fcntl.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <string>

#include "gtest/gtest.h"
#include "tests/testing/test_env.h"

namespace rib::spec {
namespace {

using ::rib::testing::ScratchDir;

class WeightsFormatTest : public ::testing::Test {
 protected:
  // Writes a stored zip named `name` holding `records` (each "<archive>/<record>").
  std::string Zip(const std::string& name, const std::string& records) {
    const std::string path = dir_.Join(name);
    const std::string cmd =
        "/usr/bin/python3 -c \"import sys, zipfile\n"
        "z = zipfile.ZipFile(sys.argv[1], 'w')\n"
        "for r in sys.argv[2].split(): z.writestr(r, b'x' * 70000)\n"
        "z.close()\" " +
        path + " '" + records + "'";
    EXPECT_EQ(std::system(cmd.c_str()), 0);
    return path;
  }
  struct Probe {
    bool state_dict;
    bool torchscript;
  };
  Probe Check(const std::string& path) {
    const int fd = ::open(path.c_str(), O_RDONLY);
    EXPECT_GE(fd, 0) << path;
    Probe p{IsTorchStateDictArchive(fd), IsTorchScriptWeights(path, fd)};
    ::close(fd);
    return p;
  }
  ScratchDir dir_;
};

TEST_F(WeightsFormatTest, AStateDictArchiveIsDataWhateverItsName) {
  for (const char* name : {"resnet18.pth", "resnet18.pt", "weights.bin"}) {
    const Probe p =
        Check(Zip(name, "resnet18/data.pkl resnet18/data/0 resnet18/version"));
    EXPECT_TRUE(p.state_dict) << name;
    EXPECT_FALSE(p.torchscript) << name;
  }
}

TEST_F(WeightsFormatTest, AnArchiveWithCodeOrConstantsIsTorchScript) {
  for (const char* records : {"m/data.pkl m/code/__torch__/m.py m/version",
                              "m/data.pkl m/constants.pkl m/version"}) {
    const Probe p = Check(Zip("m.pth", records));
    EXPECT_FALSE(p.state_dict) << records;
    EXPECT_TRUE(p.torchscript) << records;
  }
}

TEST_F(WeightsFormatTest, WhatIsNotAReadableZipFallsBackToTheNameAndMagicRule) {
  std::ofstream(dir_.Join("junk.pth")) << "not a zip";
  std::ofstream(dir_.Join("zip.bin"), std::ios::binary) << std::string("PK\3\4rest");
  std::ofstream(dir_.Join("w.safetensors")) << "header";
  EXPECT_FALSE(Check(dir_.Join("junk.pth")).state_dict);
  EXPECT_TRUE(Check(dir_.Join("junk.pth")).torchscript);
  EXPECT_TRUE(Check(dir_.Join("zip.bin")).torchscript);
  EXPECT_FALSE(Check(dir_.Join("w.safetensors")).torchscript);
}

}  // namespace
}  // namespace rib::spec
