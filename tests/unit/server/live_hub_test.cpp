#include "live_hub.h"

#include <gtest/gtest.h>

#include <kinema/media/mkv_reader.h>
#include <kinema/media/mkv_writer.h>

#include "get_media_output.h"
#include "mkv_fixture.h"
#include "put_media_session.h"
#include "store_fixture.h"

namespace kinema::server {
namespace {

using media::Timestamp;

LiveFragmentStart start_at(std::int64_t ms) {
    LiveFragmentStart start;
    start.stream_header = std::make_shared<const std::vector<std::uint8_t>>(test::make_stream({}).header);
    start.producer_timestamp = Timestamp::from_milliseconds(ms);
    start.server_timestamp = Timestamp::from_milliseconds(ms);
    start.cluster_timecode = ms;
    return start;
}

void send_frame(LiveHub& hub, std::int16_t relative, bool key, std::size_t size = 100) {
    auto payload = test::payload_for(relative, 0, size);
    media::Frame frame;
    frame.track = 1;
    frame.relative_timecode = relative;
    frame.key = key;
    frame.payload = payload;
    hub.on_live_frame(frame);
}

// "B" fragment begin, "K"/"f" key/delta frame with its relative timecode, "E" end.
std::string describe(const std::vector<LiveItem>& items) {
    std::string text;
    for (const auto& item : items) {
        switch (item.kind) {
            case LiveItem::Kind::fragment_begin:
                text += "B" + std::to_string(item.start->cluster_timecode) + " ";
                break;
            case LiveItem::Kind::frame:
                text += item.key ? "K " : "f ";
                break;
            case LiveItem::Kind::fragment_end:
                text += item.fragment_number.empty() ? "X " : "E ";
                break;
        }
    }
    return text;
}

TEST(LiveHub, ViewerJoiningNowStartsAtTheCurrentFragmentsKeyFrame) {
    LiveHub hub;
    hub.on_live_fragment_begin(start_at(1000));
    send_frame(hub, 0, true);
    send_frame(hub, 40, false);
    int notified = 0;
    auto viewer = hub.join_now([&] { ++notified; });
    EXPECT_EQ(notified, 1);
    EXPECT_EQ(describe(viewer->take()), "B1000 K f ");
    send_frame(hub, 80, false);
    hub.on_live_fragment_end("00000000000000000005");
    hub.on_live_fragment_begin(start_at(2000));
    send_frame(hub, 0, true);
    EXPECT_EQ(describe(viewer->take()), "f E B2000 K ");
    EXPECT_EQ(hub.viewers(), 1u);
    viewer.reset();
    EXPECT_EQ(hub.viewers(), 0u);
}

TEST(LiveHub, EachFrameIsSerialisedOnceAndShared) {
    LiveHub hub;
    auto a = hub.join_now({});
    auto b = hub.join_now({});
    hub.on_live_fragment_begin(start_at(0));
    send_frame(hub, 0, true);
    auto items_a = a->take();
    auto items_b = b->take();
    ASSERT_EQ(items_a.size(), 2u);
    ASSERT_EQ(items_b.size(), 2u);
    EXPECT_EQ(items_a[1].block.data(), items_b[1].block.data());
    EXPECT_EQ(hub.frames_published(), 1u);
}

TEST(LiveHub, SlowViewerSkipsToTheNextFragmentWithoutHoldingBackOthers) {
    LiveHubOptions options;
    options.viewer_queue_bytes = 1000;
    LiveHub hub(options);
    auto slow = hub.join_now({});
    auto fast = hub.join_now({});
    std::string fast_seen;
    for (int fragment = 0; fragment < 3; ++fragment) {
        // The fast viewer reads after every frame; the slow one does not read at all.
        hub.on_live_fragment_begin(start_at(1000 * fragment));
        for (int f = 0; f < 10; ++f) {
            send_frame(hub, static_cast<std::int16_t>(40 * f), f == 0, 200);
            fast_seen += describe(fast->take());
        }
        hub.on_live_fragment_end(std::to_string(fragment + 1));
        fast_seen += describe(fast->take());
        if (fragment == 1) {
            // The slow viewer has been stuck since fragment 0; now it reads.
            EXPECT_EQ(describe(slow->take()), "B0 K f f f E ");
        }
    }
    EXPECT_EQ(fast_seen, "B0 K f f f f f f f f f E B1000 K f f f f f f f f f E B2000 K f f f f f f f f f E ");
    EXPECT_EQ(fast->frames_skipped(), 0u);
    // It resumed at the next fragment start, with the frames that fitted, and that fragment's closing tags.
    EXPECT_EQ(describe(slow->take()), "B2000 K f f f E ");
    EXPECT_EQ(slow->frames_skipped(), 6u + 10u + 6u);
    EXPECT_EQ(hub.frames_skipped(), slow->frames_skipped());
}

TEST(LiveHub, StuckViewerIsNotifiedOfItsFirstSkipUntilItReadsTheCount) {
    // A viewer stuck in a write never takes its queue, so "the queue was empty" never notifies it again;
    // the first skip after each reading of the count does, so that its skips reach the metrics.
    LiveHubOptions options;
    options.viewer_queue_bytes = 1000;
    LiveHub hub(options);
    int notified = 0;
    auto viewer = hub.join_now([&] { ++notified; });
    hub.on_live_fragment_begin(start_at(0));
    EXPECT_EQ(notified, 1);  // the queue was empty
    for (int f = 0; f < 10; ++f)
        send_frame(hub, static_cast<std::int16_t>(40 * f), f == 0, 200);
    EXPECT_EQ(notified, 2);  // frames 0-3 fit; frame 4 is the first skip, 5-9 notify no more
    EXPECT_EQ(viewer->frames_skipped(), 6u);
    send_frame(hub, 400, false, 200);
    send_frame(hub, 440, false, 200);
    EXPECT_EQ(notified, 3);  // re-armed by reading the count
    EXPECT_EQ(viewer->frames_skipped(), 8u);
}

TEST(LiveHub, JoinAfterWaitsUntilTheArchiveHasCaughtUp) {
    LiveHub hub;
    hub.on_live_fragment_begin(start_at(0));
    send_frame(hub, 0, true);
    hub.on_live_fragment_end("00000000000000000010");
    hub.on_live_fragment_begin(start_at(1000));
    send_frame(hub, 0, true);
    // Fragment 10 completed but the archive reader has only sent up to 9: it must read 10 from the store.
    EXPECT_EQ(hub.join_after(9, {}), nullptr);
    auto viewer = hub.join_after(10, {});
    ASSERT_NE(viewer, nullptr);
    EXPECT_EQ(describe(viewer->take()), "B1000 K ");
}

TEST(LiveHub, ReplayedFragmentsAreNotPublishedAgain) {
    LiveHub hub;
    auto viewer = hub.join_now({});
    hub.on_live_fragment_begin(start_at(1000));
    send_frame(hub, 0, true);
    hub.on_live_fragment_end("1");
    hub.on_live_fragment_begin(start_at(1000));  // the reconnecting producer resends it
    send_frame(hub, 0, true);
    hub.on_live_fragment_end("1");
    hub.on_live_fragment_begin(start_at(2000));
    send_frame(hub, 0, true);
    EXPECT_EQ(describe(viewer->take()), "B1000 K E B2000 K ");
}

TEST(LiveHub, NewHubTakesOverTheNewestStoredFragment) {
    // A hub created after the last one was freed: fragment 7 (at 1000 ms) is the newest stored.
    LiveHub hub({}, LiveHubSeed{Timestamp::from_milliseconds(1000), 7});
    // A viewer whose archive read stopped before 7 must read it from the store first.
    EXPECT_EQ(hub.join_after(6, {}), nullptr);
    auto viewer = hub.join_after(7, {});
    ASSERT_NE(viewer, nullptr);
    // The producer reconnects and replays fragment 7: the viewer got it from the archive already.
    hub.on_live_fragment_begin(start_at(1000));
    send_frame(hub, 0, true);
    hub.on_live_fragment_end("7");
    hub.on_live_fragment_begin(start_at(2000));
    send_frame(hub, 0, true);
    EXPECT_EQ(describe(viewer->take()), "B2000 K ");
}

TEST(LiveHub, EndStreamTellsEveryWatcherOnceAndPublishesNothingMore) {
    LiveHub hub;
    auto viewer = hub.join_now({});
    hub.on_live_fragment_begin(start_at(1000));
    send_frame(hub, 0, true);
    int ended = 0;
    auto watch = hub.watch_end([&] { ++ended; });
    int dropped_ended = 0;
    hub.watch_end([&] { ++dropped_ended; });  // its token is dropped at once: not watching
    hub.end_stream();
    hub.end_stream();
    EXPECT_EQ(ended, 1);
    EXPECT_EQ(dropped_ended, 0);
    EXPECT_TRUE(hub.ended());
    send_frame(hub, 40, false);
    hub.on_live_fragment_end("1");
    hub.on_live_fragment_begin(start_at(2000));
    send_frame(hub, 0, true);
    EXPECT_EQ(describe(viewer->take()), "B1000 K ");
    // A viewer that starts watching after the end hears of it at once.
    int late = 0;
    auto late_watch = hub.watch_end([&] { ++late; });
    EXPECT_EQ(late, 1);
}

TEST(LiveHubRegistry, HoldsAHubOnlyWhileAProducerOrViewerUsesIt) {
    LiveHubRegistry registry;
    int seeded = 0;
    auto seed = [&] {
        ++seeded;
        return LiveHubSeed{Timestamp::from_milliseconds(5000), 3};
    };
    auto producer = registry.hub("cam1", seed);
    auto viewer = registry.hub("cam1", seed);
    EXPECT_EQ(producer, viewer);
    EXPECT_EQ(seeded, 1);
    EXPECT_EQ(registry.size(), 1u);
    std::weak_ptr<LiveHub> weak = producer;
    producer.reset();
    EXPECT_FALSE(weak.expired());  // the viewer still holds it
    viewer.reset();
    EXPECT_TRUE(weak.expired());  // the registry does not
    EXPECT_EQ(registry.size(), 0u);
    // The next user gets a new hub, started from the store.
    auto again = registry.hub("cam1", seed);
    EXPECT_EQ(seeded, 2);
    EXPECT_EQ(again->join_after(2, {}), nullptr);
    // Many streams coming and going leave no hubs behind.
    for (int i = 0; i < 1000; ++i)
        registry.hub("s" + std::to_string(i));
    EXPECT_EQ(registry.size(), 1u);
}

TEST(LiveHubRegistry, EndStreamEndsTheHubAndForgetsIt) {
    LiveHubRegistry registry;
    auto hub = registry.hub("cam1");
    int ended = 0;
    auto watch = hub->watch_end([&] { ++ended; });
    registry.end_stream("cam1");
    EXPECT_EQ(ended, 1);
    EXPECT_TRUE(hub->ended());
    // A stream created again under that name starts with a new hub.
    auto next = registry.hub("cam1");
    EXPECT_NE(next, hub);
    EXPECT_FALSE(next->ended());
    registry.end_stream("nothing");  // no hub: nothing to do
}

// Frames share the hub's chunks: every block is exactly its SimpleBlock, whether it shares a chunk with
// others, starts a new one, or is larger than a chunk, and it stays valid while an item holds it, after
// the hub is gone.
TEST(LiveHub, EveryBlockIsItsSimpleBlockAcrossChunksAndOutlivesTheHub) {
    auto hub = std::make_shared<LiveHub>();
    auto viewer = hub->join_now({});
    const std::vector<std::size_t> sizes = {100, 60'000, 70'000, 90'000, 1, 0, 300'000, 50'000, 200'000};
    hub->on_live_fragment_begin(start_at(1000));
    for (std::size_t i = 0; i < sizes.size(); ++i)
        send_frame(*hub, static_cast<std::int16_t>(i * 40), i == 0, sizes[i]);
    auto items = viewer->take();
    hub.reset();
    viewer.reset();
    ASSERT_EQ(items.size(), sizes.size() + 1);
    for (std::size_t i = 0; i < sizes.size(); ++i) {
        const LiveItem& item = items[i + 1];
        ASSERT_EQ(item.kind, LiveItem::Kind::frame);
        test::Bytes expected;
        ASSERT_FALSE(media::mkv::write_simple_block(
            1, static_cast<std::int64_t>(i * 40), i == 0,
            test::payload_for(static_cast<std::int16_t>(i * 40), 0, sizes[i]), expected));
        EXPECT_EQ(test::Bytes(item.block.begin(), item.block.end()), expected) << "frame " << i;
        EXPECT_EQ(item.bytes(), expected.size());
    }
}

class LiveHubIngestTest : public test::StoreFixture {};

TEST_F(LiveHubIngestTest, ViewerOutputOfAPutMediaSessionIsPlayableMkvBeforeFragmentsComplete) {
    auto hub = std::make_shared<LiveHub>();
    auto viewer = hub->join_now({});
    auto stream = test::make_stream({{1000, 5}, {2000, 5}});
    PutMediaOptions options;
    options.stream = "cam1";
    PutMediaSession session(*store_, options, {}, hub);
    // Everything but the second fragment's end: its frames are out already.
    session.feed(stream.bytes);
    GetMediaWriter writer(OutputMode::continuous);
    test::Bytes out;
    for (const auto& item : viewer->take()) {
        if (item.kind == LiveItem::Kind::fragment_begin) writer.write_live_fragment_begin(*item.start, out);
        if (item.kind == LiveItem::Kind::frame) out.insert(out.end(), item.block.begin(), item.block.end());
        if (item.kind == LiveItem::Kind::fragment_end) {
            writer.write_live_fragment_end(item.fragment_number, item.start->server_timestamp,
                                           Timestamp::now(), out);
        }
    }
    struct Count : media::MkvReaderHandler {
        void on_frame(const media::Frame& frame) override { pts.push_back(frame.pts.milliseconds()); }
        std::vector<std::int64_t> pts;
    } count;
    media::MkvReader reader(count);
    ASSERT_FALSE(reader.feed(out));
    ASSERT_FALSE(reader.finish());
    EXPECT_EQ(count.pts,
              (std::vector<std::int64_t>{1000, 1040, 1080, 1120, 1160, 2000, 2040, 2080, 2120, 2160}));
}

}  // namespace
}  // namespace kinema::server
