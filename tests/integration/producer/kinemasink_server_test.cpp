// The GStreamer pipeline, run with gst-launch-1.0 as a user would (GST_PLUGIN_PATH pointing at the
// build's libgstkinema.so), streams to the real kinema-server: 90 frames at 30 fps with a key frame every
// 30 are stored as 3 fragments holding 90 frames, readable back through GetMediaForFragmentList.
#include <gtest/gtest.h>

#include <thread>

#include "producer_server_fixture.h"
#include "test_server.h"

namespace kinema::producer::testing {
namespace {

TEST(KinemaSinkAgainstServer, GstLaunchPipelineStoresThreeFragmentsOfNinetyFrames) {
    if (kinema::test::run_command("gst-inspect-1.0 x264enc >/dev/null 2>&1").exit_code != 0)
        GTEST_SKIP() << "x264enc (gstreamer1.0-plugins-ugly) is not installed";
    kinema::test::TestServer server;
    kinema::test::HttpClient client(server.port());
    // The pipeline sets no retention-period, so kinemasink does not create the stream: the user does.
    ASSERT_EQ(
        client.post_json("/createStream", {{"StreamName", "cam1"}, {"DataRetentionInHours", 24}}).status,
        200u);
    kinema::test::TempDir dir;
    const std::string command =
        "GST_PLUGIN_PATH=" + kinema::test::shell_quote(KINEMA_GST_PLUGIN_DIR) +
        " GST_REGISTRY=" + kinema::test::shell_quote((dir / "registry.bin").string()) +
        " timeout 60 gst-launch-1.0 -q -e videotestsrc is-live=true num-buffers=90 ! "
        "video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
        "x264enc tune=zerolatency key-int-max=30 ! h264parse ! kinemasink endpoint=ws://127.0.0.1:" +
        std::to_string(server.port()) + " stream-name=cam1 >&2";
    EXPECT_EQ(kinema::test::run_command(command).exit_code, 0) << command;

    // Two of the first runs listed nothing right after gst-launch-1.0 exited although the server logged 3
    // fragments stored (see the report of this test's commit): wait, bounded, for the listing.
    auto stored = read_stored(server.port(), "cam1");
    for (int i = 0; i < 50 && stored.fragment_producer_ms.size() < 3; ++i) {
        std::this_thread::sleep_for(100ms);  // polling a condition with a 5 s bound, not ordering
        stored = read_stored(server.port(), "cam1");
    }
    EXPECT_EQ(stored.fragment_producer_ms.size(), 3u);
    EXPECT_EQ(stored.frames.size(), 90u);
    int keys = 0;
    for (const auto& frame : stored.frames)
        keys += frame.key ? 1 : 0;
    EXPECT_EQ(keys, 3);
    for (std::size_t i = 1; i < stored.frames.size(); ++i)
        EXPECT_GT(stored.frames[i].pts_ms, stored.frames[i - 1].pts_ms) << "frame " << i;
}

}  // namespace
}  // namespace kinema::producer::testing
