// The rank link over a real socket pair: events in order, the end, timeouts, and what a
// broken or hostile peer gets.
#include "worker/protocol/rank_link.h"

#include <sys/socket.h>

#include <string>

#include "common/status_macros.h"
#include "gmock/gmock.h"
#include "gtest/gtest.h"
#include "tests/testing/status_matchers.h"

namespace rib::protocol {
namespace {

using ::rib::testing::IsOk;
using ::rib::testing::StatusIs;
using ::testing::HasSubstr;
using Read = RankLinkReader::Read;

TEST(RankLinkTest, EventsArriveInOrderThenTheEnd) {
  RIB_ASSERT_OK_AND_ASSIGN(RankLinkPair pair, CreateRankLink());
  RankLinkReader reader(std::move(pair.agent_end));
  {
    RankLinkWriter writer(std::move(pair.rank_end));
    v1::JobEvent started;
    started.set_started(true);
    ASSERT_THAT(writer.Send(started), IsOk());
    v1::JobEvent result;
    result.mutable_result()->set_dataset("fmnist-r");
    result.mutable_result()->set_correct(7);
    ASSERT_THAT(writer.Send(result), IsOk());
  }  // the rank's end closes: the link ends after what was sent
  v1::JobEvent e;
  RIB_ASSERT_OK_AND_ASSIGN(Read r, reader.Next(&e, absl::Seconds(5)));
  EXPECT_EQ(r, Read::kEvent);
  EXPECT_TRUE(e.started());
  e.Clear();
  RIB_ASSERT_OK_AND_ASSIGN(r, reader.Next(&e, absl::Seconds(5)));
  EXPECT_EQ(r, Read::kEvent);
  EXPECT_EQ(e.result().dataset(), "fmnist-r");
  EXPECT_EQ(e.result().correct(), 7);
  RIB_ASSERT_OK_AND_ASSIGN(r, reader.Next(&e, absl::Seconds(5)));
  EXPECT_EQ(r, Read::kEnd);
}

TEST(RankLinkTest, NothingYetIsATimeout) {
  RIB_ASSERT_OK_AND_ASSIGN(RankLinkPair pair, CreateRankLink());
  RankLinkReader reader(std::move(pair.agent_end));
  v1::JobEvent e;
  RIB_ASSERT_OK_AND_ASSIGN(Read r, reader.Next(&e, absl::Milliseconds(20)));
  EXPECT_EQ(r, Read::kTimeout);
}

TEST(RankLinkTest, AMessageThatIsNotAnEventIsDataLoss) {
  RIB_ASSERT_OK_AND_ASSIGN(RankLinkPair pair, CreateRankLink());
  const char junk[] = "\xff\xff\xff\xff junk";
  ASSERT_GT(send(pair.rank_end.get(), junk, sizeof(junk) - 1, 0), 0);
  RankLinkReader reader(std::move(pair.agent_end));
  v1::JobEvent e;
  EXPECT_THAT(reader.Next(&e, absl::Seconds(5)).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("not a JobEvent")));
}

TEST(RankLinkTest, AnOversizedMessageIsRefusedOnBothSides) {
  RIB_ASSERT_OK_AND_ASSIGN(RankLinkPair pair, CreateRankLink());
  v1::JobEvent big;
  big.set_checkpoint(std::string(kMaxLinkMessageBytes + 10, 'x'));
  RankLinkWriter writer(std::move(pair.rank_end));
  EXPECT_THAT(writer.Send(big),
              StatusIs(absl::StatusCode::kInvalidArgument, HasSubstr("limit")));
  // A peer that sends one anyway (not through RankLinkWriter).
  RIB_ASSERT_OK_AND_ASSIGN(RankLinkPair raw, CreateRankLink());
  int size = 1 << 20;
  setsockopt(raw.rank_end.get(), SOL_SOCKET, SO_SNDBUF, &size, sizeof(size));
  std::string bytes;
  big.SerializeToString(&bytes);
  ASSERT_EQ(send(raw.rank_end.get(), bytes.data(), bytes.size(), 0),
            static_cast<ssize_t>(bytes.size()));
  RankLinkReader reader(std::move(raw.agent_end));
  v1::JobEvent e;
  EXPECT_THAT(reader.Next(&e, absl::Seconds(5)).status(),
              StatusIs(absl::StatusCode::kDataLoss, HasSubstr("over the rank link")));
}

TEST(RankLinkTest, SendingToAGoneAgentIsUnavailableNotSigpipe) {
  RIB_ASSERT_OK_AND_ASSIGN(RankLinkPair pair, CreateRankLink());
  pair.agent_end.Reset();
  RankLinkWriter writer(std::move(pair.rank_end));
  v1::JobEvent started;
  started.set_started(true);
  EXPECT_THAT(writer.Send(started), StatusIs(absl::StatusCode::kUnavailable));
}

}  // namespace
}  // namespace rib::protocol
