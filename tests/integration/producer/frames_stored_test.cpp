// Frames in == frames stored: a Producer streams real H.264 (ffmpeg, split into access units) to a real
// kinema-server in this process, creating the stream; after stop(), everything read back through
// ListFragments + GetMediaForFragmentList is exactly what was put: same frames, same millisecond
// timestamps and key flags, AVCC payloads bit-exact, each fragment once, each PERSISTED as on_ack saw it.
#include <gtest/gtest.h>

#include "producer_server_fixture.h"
#include "test_server.h"

namespace kinema::producer::testing {
namespace {

TEST(ProducerAgainstServer, FramesInEqualFramesStored) {
    const auto& source = real_h264(10);
    ASSERT_EQ(source.size(), 300u) << "ffmpeg could not make the test video";
    kinema::test::TestServer server;
    AckLog acks;
    StreamConfig config;
    config.endpoint = "ws://127.0.0.1:" + std::to_string(server.port());
    config.stream_name = "cam1";
    config.create_if_missing = true;
    config.retention_hours = 24;
    Producer producer;
    Stream& stream = producer.add_stream(config, acks.callbacks());
    put_frames(stream, source, 0, source.size());
    const StopReport report = stream.stop(20s);

    EXPECT_TRUE(report.all_acknowledged);
    EXPECT_EQ(report.unacknowledged_fragments, 0u);
    EXPECT_TRUE(acks.errors().empty());
    const auto expected = fragment_timecodes(source);
    ASSERT_EQ(expected.size(), 10u);
    const auto persisted = acks.persisted();
    EXPECT_EQ(std::vector<std::int64_t>(persisted.begin(), persisted.end()), expected);
    EXPECT_EQ(stream.metrics().frames_put, source.size());
    EXPECT_EQ(stream.metrics().sessions, 1u);

    expect_stored_exactly(read_stored(server.port(), "cam1"), source);
}

}  // namespace
}  // namespace kinema::producer::testing
