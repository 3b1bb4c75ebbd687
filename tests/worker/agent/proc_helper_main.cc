// agent_proc_helper: a rank process for the launcher tests. It links nothing heavy, so
// it starts in milliseconds and the tests can use short timeouts.
//   agent_proc_helper ok            prints its rank, world size and port; exits 0
//   agent_proc_helper link          prints $RIB_AGENT_FD ("none" when unset) and its
//                                   highest open descriptor; with the variable set,
//                                   writes "rank <r> on fd <fd>" to that descriptor
//   agent_proc_helper fail R        rank R prints two stderr lines and exits 3; the
//                                   others sleep 60 s
//   agent_proc_helper hang R        every rank touches $RIB_HEARTBEAT_FILE every 20 ms,
//                                   except rank R, which stops after the first
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

std::string Env(const char* name) {
  const char* v = std::getenv(name);
  return v != nullptr ? v : "";
}

void Touch(const std::string& path) {
  const int fd = open(path.c_str(), O_WRONLY | O_CREAT, 0644);
  if (fd >= 0) {
    futimens(fd, nullptr);
    close(fd);
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return 2;
  const std::string mode = argv[1];
  const int rank = std::atoi(Env("RIB_RANK").c_str());
  if (mode == "ok") {
    std::printf("rank %d of %s port %s\n", rank, Env("RIB_WORLD_SIZE").c_str(),
                Env("RIB_MASTER_PORT").c_str());
    return 0;
  }
  if (mode == "link") {
    int highest = -1;
    for (int fd = 0; fd < 1024; ++fd) {
      if (fcntl(fd, F_GETFD) != -1) highest = fd;
    }
    const std::string agent_fd = Env("RIB_AGENT_FD");
    std::printf("agent fd %s, highest open fd %d\n",
                agent_fd.empty() ? "none" : agent_fd.c_str(), highest);
    if (!agent_fd.empty()) {
      const std::string line =
          "rank " + std::to_string(rank) + " on fd " + agent_fd + "\n";
      if (write(std::atoi(agent_fd.c_str()), line.data(), line.size()) < 0) return 4;
    }
    return 0;
  }
  if (argc < 3) return 2;
  const int chosen = std::atoi(argv[2]);
  if (mode == "fail") {
    if (rank == chosen) {
      std::fprintf(stderr, "some earlier output\nrank %d: simulated failure\n", rank);
      return 3;
    }
    sleep(60);
    return 0;
  }
  if (mode == "hang") {
    const std::string heartbeat = Env("RIB_HEARTBEAT_FILE");
    Touch(heartbeat);
    if (rank == chosen) std::fprintf(stderr, "rank %d: about to hang\n", rank);
    for (int i = 0; i < 3000; ++i) {
      usleep(20000);
      if (rank != chosen) Touch(heartbeat);
    }
    return 0;
  }
  return 2;
}
