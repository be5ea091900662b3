#include "content_buffer.h"

#include <gtest/gtest.h>

#include <chrono>
#include <string>

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;

Timestamp ms(std::int64_t v) {
    return Timestamp::from_milliseconds(v);
}

Bytes filled(std::size_t n, std::uint8_t value) {
    return Bytes(n, value);
}

// One fragment per call: `frames` frames of `frame_size` bytes, 100 ms apart, starting at `start_ms`
// (also the timecode); closed unless `open`.
void add_fragment(ContentBuffer& buffer, std::int64_t start_ms, int frames, std::size_t frame_size,
                  bool open = false) {
    buffer.open_fragment(start_ms, ms(start_ms));
    for (int i = 0; i < frames; ++i)
        buffer.append(filled(frame_size, static_cast<std::uint8_t>(start_ms / 1000)), ms(start_ms + 100 * i),
                      true);
    if (!open) buffer.close_fragment();
}

// Everything the session has to send now, in chunks of `chunk` bytes.
Bytes drain(ContentBuffer& buffer, std::size_t chunk, SteadyTime now = SteadyTime{}) {
    Bytes out;
    Bytes scratch(chunk);
    while (std::size_t n = buffer.next_chunk(scratch.data(), chunk, now))
        out.insert(out.end(), scratch.begin(), scratch.begin() + n);
    return out;
}

std::vector<std::int64_t> buffered_timecodes(const ContentBuffer& buffer) {
    std::vector<std::int64_t> out;
    for (const auto& f : buffer.fragments())
        out.push_back(f.timecode);
    return out;
}

TEST(ContentBuffer, ByteLimitDropsWholeOldestFragmentsOnly) {
    ContentBuffer buffer({.max_duration = 1h, .max_bytes = 1000, .done_on_received = false});
    add_fragment(buffer, 0, 3, 100);           // 300 bytes
    add_fragment(buffer, 1000, 3, 100);        // 300 bytes
    add_fragment(buffer, 2000, 2, 100, true);  // 200 bytes, open
    EXPECT_EQ(buffer.bytes(), 800u);
    EXPECT_TRUE(buffer.fits(200, ms(2200)));
    EXPECT_FALSE(buffer.fits(201, ms(2200)));

    std::vector<DroppedFragment> dropped;
    ASSERT_TRUE(buffer.make_room(450, ms(2200), dropped));
    ASSERT_EQ(dropped.size(), 1u);  // 800 - 300 + 450 = 950 fits: one whole fragment is enough
    EXPECT_EQ(dropped[0].fragment_timecode, 0);
    EXPECT_EQ(dropped[0].frames, 3u);
    EXPECT_EQ(dropped[0].bytes, 300u);
    EXPECT_EQ(dropped[0].reason, DropReason::buffer_full);
    EXPECT_FALSE(dropped[0].was_sent);
    EXPECT_EQ(buffered_timecodes(buffer), (std::vector<std::int64_t>{1000, 2000}));
    EXPECT_EQ(buffer.bytes(), 500u);
}

TEST(ContentBuffer, NeverDropsTheOpenFragment) {
    ContentBuffer buffer({.max_duration = 1h, .max_bytes = 500, .done_on_received = false});
    add_fragment(buffer, 0, 2, 100);
    add_fragment(buffer, 1000, 3, 100, true);
    std::vector<DroppedFragment> dropped;
    EXPECT_FALSE(buffer.make_room(250, ms(1300), dropped));  // 300 open + 250 > 500 even alone
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_EQ(buffered_timecodes(buffer), (std::vector<std::int64_t>{1000}));
    EXPECT_TRUE(buffer.has_open_fragment());
    EXPECT_EQ(buffer.bytes(), 300u);
}

TEST(ContentBuffer, DurationLimitDropsOldestFragments) {
    struct Case {
        std::int64_t new_pts_ms;
        std::vector<std::int64_t> kept;
    };
    const Case cases[] = {
        {5000, {0, 2000, 4000}},  // exactly the limit: fits
        {5001, {2000, 4000}},
        {7001, {4000}},
        {60000, {4000}},  // only the open fragment is left; duration alone never drops frames
    };
    for (const auto& c : cases) {
        ContentBuffer buffer({.max_duration = 5s, .max_bytes = 1 << 20, .done_on_received = false});
        add_fragment(buffer, 0, 10, 10);
        add_fragment(buffer, 2000, 10, 10);
        add_fragment(buffer, 4000, 5, 10, true);
        std::vector<DroppedFragment> dropped;
        EXPECT_TRUE(buffer.make_room(10, ms(c.new_pts_ms), dropped)) << c.new_pts_ms;
        EXPECT_EQ(buffered_timecodes(buffer), c.kept) << c.new_pts_ms;
        EXPECT_EQ(dropped.size(), 3 - c.kept.size());
    }
}

TEST(ContentBuffer, SessionSendsHeaderThenFragmentsForEverySplit) {
    for (std::size_t chunk : {1u, 2u, 3u, 7u, 10u, 64u, 1000u}) {
        ContentBuffer buffer({});
        buffer.set_header(filled(5, 0xEE));
        add_fragment(buffer, 1000, 2, 4);
        add_fragment(buffer, 2000, 1, 3, true);
        std::vector<DroppedFragment> dropped;
        buffer.start_session(1h, dropped);
        Bytes expected = filled(5, 0xEE);
        for (std::uint8_t v : {1, 1, 1, 1, 1, 1, 1, 1, 2, 2, 2})
            expected.push_back(v);
        EXPECT_EQ(drain(buffer, chunk), expected) << chunk;
        EXPECT_FALSE(buffer.has_unsent());
        // The open fragment keeps streaming as it grows.
        buffer.append(filled(2, 9), ms(2100), true);
        EXPECT_TRUE(buffer.has_unsent());
        EXPECT_EQ(drain(buffer, chunk), filled(2, 9)) << chunk;
    }
}

TEST(ContentBuffer, NothingIsSentWithoutAHeaderOrSession) {
    ContentBuffer buffer({});
    add_fragment(buffer, 0, 1, 10);
    std::uint8_t scratch[64];
    EXPECT_EQ(buffer.next_chunk(scratch, sizeof scratch, {}), 0u);  // no session
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    EXPECT_EQ(buffer.next_chunk(scratch, sizeof scratch, {}), 0u);  // no header yet (no SPS/PPS)
    buffer.set_header(filled(1, 0xEE));
    EXPECT_EQ(buffer.next_chunk(scratch, sizeof scratch, {}), 11u);
}

TEST(ContentBuffer, PersistedAckFreesFragmentsInOrder) {
    ContentBuffer buffer({});
    buffer.set_header(filled(1, 0xEE));
    add_fragment(buffer, 0, 1, 10);
    add_fragment(buffer, 1000, 1, 10);
    add_fragment(buffer, 2000, 1, 10);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    drain(buffer, 64);

    EXPECT_TRUE(buffer.apply_ack(AckType::buffering, 0, dropped));
    EXPECT_TRUE(buffer.apply_ack(AckType::received, 0, dropped));
    EXPECT_EQ(buffer.fragment_count(), 3u);  // retention > 0: RECEIVED is not enough
    EXPECT_TRUE(buffer.apply_ack(AckType::persisted, 1000, dropped));
    EXPECT_EQ(buffer.fragment_count(), 3u);  // out of order: kept until the older one is done
    EXPECT_TRUE(buffer.apply_ack(AckType::persisted, 0, dropped));
    EXPECT_EQ(buffered_timecodes(buffer), (std::vector<std::int64_t>{2000}));
    EXPECT_EQ(buffer.bytes(), 10u);
    EXPECT_FALSE(buffer.apply_ack(AckType::persisted, 0, dropped));    // duplicate ACK
    EXPECT_FALSE(buffer.apply_ack(AckType::persisted, 555, dropped));  // unknown timecode
    EXPECT_FALSE(buffer.apply_ack(AckType::idle, 2000, dropped));
    EXPECT_TRUE(dropped.empty());
}

TEST(ContentBuffer, ReceivedIsFinalWithZeroRetention) {
    ContentBuffer buffer({.max_duration = 1h, .max_bytes = 1 << 20, .done_on_received = true});
    add_fragment(buffer, 0, 1, 10);
    std::vector<DroppedFragment> dropped;
    EXPECT_TRUE(buffer.apply_ack(AckType::received, 0, dropped));
    EXPECT_TRUE(buffer.empty());
    EXPECT_TRUE(buffer.unacknowledged().all_acknowledged);
}

TEST(ContentBuffer, OpenFragmentStaysUntilClosedEvenWhenAcknowledged) {
    ContentBuffer buffer({});
    add_fragment(buffer, 0, 1, 10, true);
    std::vector<DroppedFragment> dropped;
    EXPECT_TRUE(buffer.apply_ack(AckType::persisted, 0, dropped));
    EXPECT_EQ(buffer.fragment_count(), 1u);
    buffer.close_fragment();
    EXPECT_TRUE(buffer.empty());
}

TEST(ContentBuffer, ReplayResendsFromFirstUnacknowledgedAndSkipsDoneOnes) {
    ContentBuffer buffer({});
    buffer.set_header(filled(2, 0xEE));
    for (std::int64_t t : {1000, 2000, 3000, 4000})
        add_fragment(buffer, t, 1, 3);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    drain(buffer, 5);
    ASSERT_TRUE(buffer.apply_ack(AckType::persisted, 1000, dropped));
    ASSERT_TRUE(buffer.apply_ack(AckType::persisted, 3000, dropped));
    buffer.end_session();

    buffer.start_session(1h, dropped);
    EXPECT_TRUE(dropped.empty());
    // Header again, then 2000 and 4000 (3000 is done; 1000 was freed).
    const Bytes expected{0xEE, 0xEE, 2, 2, 2, 4, 4, 4};
    EXPECT_EQ(drain(buffer, 3), expected);
}

TEST(ContentBuffer, ReplayMidFragmentRestartsThatFragmentFromItsFirstByte) {
    ContentBuffer buffer({});
    buffer.set_header(filled(1, 0xEE));
    add_fragment(buffer, 1000, 2, 4);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    std::uint8_t scratch[4];
    ASSERT_EQ(buffer.next_chunk(scratch, 4, {}), 4u);  // header + 3 bytes of the fragment
    buffer.end_session();
    buffer.start_session(1h, dropped);
    EXPECT_EQ(drain(buffer, 100), (Bytes{0xEE, 1, 1, 1, 1, 1, 1, 1, 1}));
}

TEST(ContentBuffer, ReplayWindowDropsOlderFragments) {
    ContentBuffer buffer({});
    buffer.set_header(filled(1, 0xEE));
    for (std::int64_t t : {0, 10000, 20000, 30000})
        add_fragment(buffer, t, 1, 1);
    add_fragment(buffer, 40000, 1, 1, true);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(25s, dropped);  // newest frame at 40 s: keep fragments starting at >= 15 s
    ASSERT_EQ(dropped.size(), 2u);
    EXPECT_EQ(dropped[0].fragment_timecode, 0);
    EXPECT_EQ(dropped[1].fragment_timecode, 10000);
    EXPECT_EQ(dropped[1].reason, DropReason::replay_window);
    EXPECT_EQ(drain(buffer, 100), (Bytes{0xEE, 20, 30, 40}));
}

TEST(ContentBuffer, DroppingAPartlySentFragmentBreaksTheSession) {
    ContentBuffer buffer({.max_duration = 1h, .max_bytes = 100, .done_on_received = false});
    buffer.set_header(filled(1, 0xEE));
    add_fragment(buffer, 1000, 5, 10);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    std::uint8_t scratch[20];
    ASSERT_EQ(buffer.next_chunk(scratch, 20, {}), 20u);
    add_fragment(buffer, 2000, 3, 10, true);
    ASSERT_TRUE(buffer.make_room(30, ms(2300), dropped));
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_TRUE(dropped[0].was_sent);
    EXPECT_TRUE(buffer.session_broken());
    EXPECT_EQ(buffer.next_chunk(scratch, 20, {}), 0u);  // nothing more on the broken session
    buffer.start_session(1h, dropped);
    EXPECT_FALSE(buffer.session_broken());
    EXPECT_EQ(drain(buffer, 100).size(), 1u + 30u);
}

TEST(ContentBuffer, DroppingAnUnsentOrWhollySentFragmentKeepsTheSession) {
    ContentBuffer buffer({.max_duration = 1h, .max_bytes = 100, .done_on_received = false});
    buffer.set_header(filled(1, 0xEE));
    add_fragment(buffer, 1000, 3, 10);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    drain(buffer, 100);
    add_fragment(buffer, 2000, 3, 10);
    add_fragment(buffer, 3000, 3, 10, true);
    ASSERT_TRUE(buffer.make_room(50, ms(3300), dropped));  // drops 1000 (sent) and 2000 (unsent)
    EXPECT_EQ(dropped.size(), 2u);
    EXPECT_FALSE(buffer.session_broken());
    EXPECT_EQ(drain(buffer, 100), filled(30, 3));
}

TEST(ContentBuffer, RejectedFragmentIsReportedAndNeverResent) {
    ContentBuffer buffer({});
    buffer.set_header(filled(1, 0xEE));
    add_fragment(buffer, 1000, 1, 2);
    add_fragment(buffer, 2000, 1, 2);
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    drain(buffer, 100);
    ASSERT_TRUE(buffer.apply_ack(AckType::error, 2000, dropped));
    ASSERT_EQ(dropped.size(), 1u);
    EXPECT_EQ(dropped[0].reason, DropReason::rejected_by_server);
    buffer.start_session(1h, dropped);
    EXPECT_EQ(drain(buffer, 100), (Bytes{0xEE, 1, 1}));
    EXPECT_EQ(buffer.unacknowledged().unacknowledged_timecodes, (std::vector<std::int64_t>{1000}));
}

TEST(ContentBuffer, AwaitingAckIsTheSendTimeOfTheOldestWhollySentFragment) {
    ContentBuffer buffer({});
    buffer.set_header(filled(1, 0xEE));
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    const SteadyTime t0{std::chrono::seconds(100)};
    add_fragment(buffer, 1000, 1, 2, true);
    drain(buffer, 100, t0);
    EXPECT_FALSE(buffer.oldest_awaiting_ack());  // the open fragment cannot be acknowledged yet
    buffer.close_fragment();
    drain(buffer, 100, t0 + 1s);
    EXPECT_EQ(buffer.oldest_awaiting_ack(), t0 + 1s);
    add_fragment(buffer, 2000, 1, 2);
    drain(buffer, 100, t0 + 2s);
    EXPECT_EQ(buffer.oldest_awaiting_ack(), t0 + 1s);
    ASSERT_TRUE(buffer.apply_ack(AckType::persisted, 1000, dropped));
    EXPECT_EQ(buffer.oldest_awaiting_ack(), t0 + 2s);
}

TEST(ContentBuffer, UnsentAgeAndDuration) {
    ContentBuffer buffer({});
    buffer.set_header(filled(1, 0xEE));
    add_fragment(buffer, 1000, 10, 1);        // frames up to 1900
    add_fragment(buffer, 2000, 10, 1, true);  // up to 2900
    EXPECT_EQ(buffer.duration(), 1900ms);
    EXPECT_EQ(buffer.unsent_age(), 1900ms);  // no session: everything waits
    std::vector<DroppedFragment> dropped;
    buffer.start_session(1h, dropped);
    std::uint8_t scratch[11];
    ASSERT_EQ(buffer.next_chunk(scratch, 11, {}), 11u);  // header + the whole first fragment
    EXPECT_EQ(buffer.unsent_age(), 900ms);
    drain(buffer, 100);
    EXPECT_EQ(buffer.unsent_age(), 0ms);
}

TEST(ContentBuffer, StopReportListsEverythingNotDone) {
    ContentBuffer buffer({});
    add_fragment(buffer, 1000, 3, 10);
    add_fragment(buffer, 2000, 2, 10);
    add_fragment(buffer, 3000, 1, 10, true);
    std::vector<DroppedFragment> dropped;
    ASSERT_TRUE(buffer.apply_ack(AckType::persisted, 2000, dropped));
    const StopReport report = buffer.unacknowledged();
    EXPECT_FALSE(report.all_acknowledged);
    EXPECT_EQ(report.unacknowledged_fragments, 2u);
    EXPECT_EQ(report.unacknowledged_frames, 4u);
    EXPECT_EQ(report.unacknowledged_bytes, 40u);
    EXPECT_EQ(report.unacknowledged_timecodes, (std::vector<std::int64_t>{1000, 3000}));
}

}  // namespace
}  // namespace kinema::producer
