#include "put_media_session.h"

#include <gtest/gtest.h>

#include <future>
#include <memory>
#include <mutex>

#include "mkv_fixture.h"
#include "subprocess.h"

namespace kinema::server {
namespace {

using media::Timestamp;
using test::ClusterSpec;
using test::make_stream;

// Collects ACKs from any thread. The sink shares the log's state: a PERSISTED ACK may arrive from the store's
// commit thread after the session (and the test's AckLog) is gone, as it does on a real connection.
class AckLog {
public:
    AckSink sink() {
        return [state = state_](const Ack& ack, media::Duration) {
            std::lock_guard lock(state->mutex);
            state->acks.push_back(ack);
        };
    }
    std::vector<Ack> acks() const {
        std::lock_guard lock(state_->mutex);
        return state_->acks;
    }
    std::vector<AckEventType> types() const {
        std::vector<AckEventType> types;
        for (const auto& ack : acks())
            types.push_back(ack.type);
        return types;
    }

private:
    struct State {
        std::mutex mutex;
        std::vector<Ack> acks;
    };
    std::shared_ptr<State> state_ = std::make_shared<State>();
};

class PutMediaSessionTest : public ::testing::Test {
protected:
    void SetUp() override { open_store(); }

    void open_store(storage::StoreOptions options = {}) {
        options.commit_max_wait = std::chrono::microseconds(0);
        options.retention_sweep_interval = std::chrono::milliseconds(0);
        store_.reset();
        store_ = storage::FragmentStore::open(dir_.path(), std::move(options));
        ASSERT_FALSE(store_->open_stream("cam1", 24));
    }

    PutMediaOptions options(std::string stream = "cam1") {
        PutMediaOptions o;
        o.stream = std::move(stream);
        o.clock = [this] { return clock_; };
        return o;
    }

    // Waits until every RECEIVED fragment of the session has its PERSISTED (or commit error).
    static void wait_acknowledged(PutMediaSession& session) {
        std::promise<void> done;
        session.when_acknowledged([&done] { done.set_value(); });
        ASSERT_EQ(done.get_future().wait_for(std::chrono::seconds(20)), std::future_status::ready);
    }

    std::vector<storage::Fragment> stored(const std::string& stream = "cam1") {
        std::vector<storage::Fragment> fragments;
        storage::FragmentNumber after = 0;
        storage::FragmentInfo info;
        while (!store_->next_after(stream, after, info)) {
            storage::Fragment fragment;
            EXPECT_FALSE(store_->read(stream, info.number, fragment));
            fragments.push_back(fragment);
            after = info.number;
        }
        return fragments;
    }

    kinema::test::TempDir dir_;
    std::unique_ptr<storage::FragmentStore> store_;
    Timestamp clock_ = Timestamp::from_milliseconds(1'700'000'000'000);
};

const std::vector<ClusterSpec> kThreeFragments = {{1000, 3}, {2000, 4}, {3000, 2}};

TEST_F(PutMediaSessionTest, EverySplitStoresTheExactClustersAndAcksInKvsOrder) {
    auto stream = make_stream(kThreeFragments);
    for (std::size_t split : {std::size_t{1}, std::size_t{2}, std::size_t{7}, std::size_t{64},
                              std::size_t{4096}, stream.bytes.size()}) {
        SCOPED_TRACE("split " + std::to_string(split));
        std::string name = "split" + std::to_string(split);
        ASSERT_FALSE(store_->open_stream(name, 24));
        AckLog log;
        PutMediaSession session(*store_, options(name), log.sink());
        for (std::size_t pos = 0; pos < stream.bytes.size(); pos += split) {
            auto n = std::min(split, stream.bytes.size() - pos);
            ASSERT_EQ(session.feed(std::span(stream.bytes).subspan(pos, n)), PutMediaSession::State::active);
        }
        EXPECT_EQ(session.finish(), PutMediaSession::State::ended);
        EXPECT_FALSE(session.error());
        wait_acknowledged(session);

        auto fragments = stored(name);
        ASSERT_EQ(fragments.size(), 3u);
        for (std::size_t i = 0; i < fragments.size(); ++i) {
            EXPECT_EQ(*fragments[i].bytes, stream.clusters[i]) << i;
            EXPECT_EQ(fragments[i].info.producer_timestamp,
                      Timestamp::from_milliseconds(kThreeFragments[i].timecode));
            EXPECT_EQ(fragments[i].info.server_timestamp, clock_);
            EXPECT_EQ(fragments[i].info.frame_count, static_cast<std::uint32_t>(kThreeFragments[i].frames));
            EXPECT_EQ(fragments[i].metadata.track_numbers, std::vector<std::uint64_t>{1});
            EXPECT_EQ(fragments[i].metadata.key_frame_offsets.size(), 1u);
            EXPECT_NE(fragments[i].info.header_id, 0u);
        }
        std::shared_ptr<const std::vector<std::uint8_t>> header;
        ASSERT_FALSE(store_->get_header(name, fragments[0].info.header_id, header));
        EXPECT_EQ(*header, stream.header);

        // Per fragment: BUFFERING, RECEIVED and PERSISTED, in that order, all with the number it is stored
        // under (KVS sends it in BUFFERING too).
        auto acks = log.acks();
        ASSERT_EQ(acks.size(), 9u);
        for (std::size_t i = 0; i < 3; ++i) {
            const std::string number = storage::format_fragment_number(fragments[i].info.number);
            std::vector<Ack> mine;
            for (const auto& ack : acks)
                if (ack.fragment_timecode == kThreeFragments[i].timecode) mine.push_back(ack);
            ASSERT_EQ(mine.size(), 3u);
            EXPECT_EQ(mine[0],
                      (Ack{AckEventType::buffering, kThreeFragments[i].timecode, number, std::nullopt}));
            EXPECT_EQ(mine[1],
                      (Ack{AckEventType::received, kThreeFragments[i].timecode, number, std::nullopt}));
            EXPECT_EQ(mine[2],
                      (Ack{AckEventType::persisted, kThreeFragments[i].timecode, number, std::nullopt}));
        }
    }
}

TEST_F(PutMediaSessionTest, RelativeTimecodesAddTheProducerStartTimestamp) {
    auto stream = make_stream({{0, 2}, {1500, 2}});
    AckLog log;
    auto o = options();
    o.absolute_timecodes = false;
    o.producer_start = Timestamp::from_milliseconds(1'600'000'000'250);
    PutMediaSession session(*store_, o, log.sink());
    session.feed(stream.bytes);
    session.finish();
    wait_acknowledged(session);
    auto fragments = stored();
    ASSERT_EQ(fragments.size(), 2u);
    EXPECT_EQ(fragments[0].info.producer_timestamp, Timestamp::from_milliseconds(1'600'000'000'250));
    EXPECT_EQ(fragments[1].info.producer_timestamp, Timestamp::from_milliseconds(1'600'000'001'750));
    // ACKs carry the timecode the producer sent, not the absolute time.
    EXPECT_EQ(log.acks().front().fragment_timecode, 0);
}

TEST_F(PutMediaSessionTest, ProducerErrorsSendOneErrorAckAndEndTheSession) {
    struct Case {
        const char* name;
        std::function<test::Bytes()> input;
        std::function<void(PutMediaOptions&)> limits;
        AckError expected;
        std::size_t fragments_stored;
    };
    const Case cases[] = {
        {"timecode goes back",
         [] {
             return make_stream({{5000, 2}, {4000, 2}, {6000, 2}}).bytes;
         },
         {},
         AckError::fragment_timecode_lesser_than_previous,
         1},
        {"four tracks",
         [] {
             return make_stream({{0, 2}}, 4).bytes;
         },
         {},
         AckError::more_than_allowed_tracks_found,
         0},
        {"not mkv", [] { return test::Bytes(100, 0x42); }, {}, AckError::invalid_mkv_data, 0},
        {"garbage after a fragment",
         [] {
             auto stream = make_stream({{0, 2}, {1000, 2}});
             auto at = stream.header.size() + stream.clusters[0].size();
             stream.bytes.insert(stream.bytes.begin() + static_cast<std::ptrdiff_t>(at), {0x00, 0x00, 0x00});
             return stream.bytes;
         },
         // The garbage is read as part of the open unknown-size Cluster, so that fragment fails too.
         {},
         AckError::invalid_mkv_data,
         0},
        {"fragment too large",
         [] {
             return make_stream({{0, 2, 40, 1, 100}, {1000, 30, 40, 1, 100}}).bytes;
         },
         [](PutMediaOptions& o) { o.max_fragment_bytes = 1000; }, AckError::max_fragment_size_reached, 1},
        {"fragment too long",
         [] {
             return make_stream({{0, 2}, {1000, 10, 300}, {5000, 2}}).bytes;
         },
         [](PutMediaOptions& o) { o.max_fragment_duration = std::chrono::seconds(2); },
         AckError::max_fragment_duration_reached, 1},
        {"undeclared track",
         [] {
             return make_stream({{0, 2}, {1000, 2, 40, 2}}).bytes;
         },
         {},
         AckError::track_number_mismatch,
         1},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        std::string name = std::string("err") + std::to_string(&c - cases);
        ASSERT_FALSE(store_->open_stream(name, 24));
        AckLog log;
        auto o = options(name);
        if (c.limits) c.limits(o);
        PutMediaSession session(*store_, o, log.sink());
        auto bytes = c.input();
        PutMediaSession::State state = PutMediaSession::State::active;
        for (std::size_t pos = 0; pos < bytes.size() && state == PutMediaSession::State::active; pos += 13)
            state =
                session.feed(std::span(bytes).subspan(pos, std::min<std::size_t>(13, bytes.size() - pos)));
        EXPECT_EQ(state, PutMediaSession::State::ended);
        EXPECT_EQ(session.error(), std::error_code(c.expected));
        session.finish();
        wait_acknowledged(session);
        auto acks = log.acks();
        std::size_t errors = 0;
        for (const auto& ack : acks) {
            if (ack.type != AckEventType::error) continue;
            ++errors;
            EXPECT_EQ(ack.error, c.expected);
        }
        EXPECT_EQ(errors, 1u);
        ASSERT_FALSE(acks.empty());
        EXPECT_EQ(acks.back().type == AckEventType::error || acks.back().type == AckEventType::persisted,
                  true);
        EXPECT_EQ(stored(name).size(), c.fragments_stored);
    }
}

TEST_F(PutMediaSessionTest, InputSpaceTakesShortReadsAndOutlivesAnAbort) {
    // As the transports use it: ask for a read's worth of space, get fewer bytes (a short read).
    auto stream = make_stream(kThreeFragments);
    AckLog log;
    PutMediaSession session(*store_, options(), log.sink());
    std::size_t pos = 0;
    for (std::size_t step = 1; pos < stream.bytes.size(); step = step * 3 % 1000 + 1) {
        const auto space = session.input_space(1000);
        ASSERT_EQ(space.size(), 1000u);
        const std::size_t n = std::min(step, stream.bytes.size() - pos);
        std::copy_n(stream.bytes.begin() + static_cast<std::ptrdiff_t>(pos), n, space.begin());
        ASSERT_EQ(session.commit_input(n), PutMediaSession::State::active);
        pos += n;
    }
    EXPECT_EQ(session.finish(), PutMediaSession::State::ended);
    wait_acknowledged(session);
    auto fragments = stored();
    ASSERT_EQ(fragments.size(), 3u);
    for (std::size_t i = 0; i < fragments.size(); ++i)
        EXPECT_EQ(*fragments[i].bytes, stream.clusters[i]) << i;

    // A session aborted (producer replaced, stream deleted) while a read into its space is in flight: the
    // space stays writable (ASan would see otherwise), and what arrives is ignored.
    auto next = make_stream({{4000, 2}});
    PutMediaSession cut(*store_, options(), log.sink());
    cut.feed(std::span(next.bytes).first(next.bytes.size() / 2));
    const auto space = cut.input_space(4096);
    cut.abort();
    std::fill(space.begin(), space.end(), std::uint8_t{0xAB});
    EXPECT_EQ(cut.commit_input(space.size()), PutMediaSession::State::ended);
    EXPECT_EQ(stored().size(), 3u);
}

TEST_F(PutMediaSessionTest, DisconnectMidFragmentStoresNothingOfItAndTheNextSessionContinues) {
    auto stream = make_stream(kThreeFragments);
    const std::size_t cut = stream.header.size() + stream.clusters[0].size() + stream.clusters[1].size() / 2;
    AckLog dropped_log;
    {
        PutMediaSession session(*store_, options(), dropped_log.sink());
        session.feed(std::span(stream.bytes).first(cut));
        session.abort();
        wait_acknowledged(session);
        EXPECT_EQ(session.stats().fragments_dropped, 1u);
        // The first fragment completed when the second began; the second was cut.
        EXPECT_EQ(stored().size(), 1u);
    }
    auto next = make_stream({{4000, 2}, {5000, 2}});
    AckLog log;
    PutMediaSession session(*store_, options(), log.sink());
    session.feed(next.bytes);
    session.finish();
    wait_acknowledged(session);
    auto fragments = stored();
    ASSERT_EQ(fragments.size(), 3u);
    EXPECT_EQ(*fragments[0].bytes, stream.clusters[0]);
    EXPECT_EQ(*fragments[1].bytes, next.clusters[0]);
    EXPECT_EQ(*fragments[2].bytes, next.clusters[1]);
    // The cut fragment's BUFFERING number was never stored; the next fragment got it, and numbers increase.
    Ack cut_buffering;
    for (const auto& ack : dropped_log.acks())
        if (ack.type == AckEventType::buffering && ack.fragment_timecode == 2000) cut_buffering = ack;
    EXPECT_EQ(cut_buffering.fragment_number, storage::format_fragment_number(fragments[1].info.number));
    EXPECT_EQ(log.acks().front(),
              (Ack{AckEventType::buffering, 4000, cut_buffering.fragment_number, std::nullopt}));
    EXPECT_LT(fragments[0].info.number, fragments[1].info.number);
    EXPECT_LT(fragments[1].info.number, fragments[2].info.number);
}

TEST_F(PutMediaSessionTest, FinishCutInsideABlockDropsTheLastFragment) {
    auto stream = make_stream({{0, 2}, {1000, 3}});
    AckLog log;
    PutMediaSession session(*store_, options(), log.sink());
    session.feed(std::span(stream.bytes).first(stream.bytes.size() - 10));
    session.finish();
    wait_acknowledged(session);
    EXPECT_EQ(stored().size(), 1u);
    EXPECT_FALSE(session.error());
}

TEST_F(PutMediaSessionTest, ReconnectingProducerReplayIsAcknowledgedWithTheOriginalNumbers) {
    auto stream = make_stream(kThreeFragments);
    AckLog first;
    {
        PutMediaSession session(*store_, options(), first.sink());
        session.feed(stream.bytes);
        session.finish();
        wait_acknowledged(session);
    }
    auto original = stored();
    ASSERT_EQ(original.size(), 3u);

    // The replay resends the last two fragments, then a new one.
    auto replay = make_stream({{2000, 4}, {3000, 2}, {4000, 2}});
    AckLog second;
    PutMediaSession session(*store_, options(), second.sink());
    session.feed(replay.bytes);
    session.finish();
    wait_acknowledged(session);
    EXPECT_EQ(session.stats().fragments_duplicate, 2u);
    auto fragments = stored();
    ASSERT_EQ(fragments.size(), 4u);
    std::vector<std::string> persisted;
    for (const auto& ack : second.acks())
        if (ack.type == AckEventType::persisted) persisted.push_back(ack.fragment_number);
    ASSERT_EQ(persisted.size(), 3u);
    EXPECT_EQ(persisted[0], storage::format_fragment_number(original[1].info.number));
    EXPECT_EQ(persisted[1], storage::format_fragment_number(original[2].info.number));
    EXPECT_EQ(persisted[2], storage::format_fragment_number(fragments[3].info.number));
    // BUFFERING already names the original (found by producer timestamp), and the new fragment's own number.
    std::vector<std::string> buffering;
    for (const auto& ack : second.acks())
        if (ack.type == AckEventType::buffering) buffering.push_back(ack.fragment_number);
    EXPECT_EQ(buffering, persisted);
}

TEST_F(PutMediaSessionTest, ATimestampResentWithOtherContentGetsANewNumberAfterBufferingNamedTheOriginal) {
    AckLog first;
    {
        PutMediaSession session(*store_, options(), first.sink());
        session.feed(make_stream({{1000, 3}}).bytes);
        session.finish();
        wait_acknowledged(session);
    }
    // Same producer timestamp, other frames: BUFFERING names the likely original, RECEIVED the new number.
    AckLog second;
    PutMediaSession session(*store_, options(), second.sink());
    session.feed(make_stream({{1000, 5}}).bytes);
    session.finish();
    wait_acknowledged(session);
    auto fragments = stored();
    ASSERT_EQ(fragments.size(), 2u);
    const auto acks = second.acks();
    ASSERT_EQ(acks.size(), 3u);
    EXPECT_EQ(acks[0].type, AckEventType::buffering);
    EXPECT_EQ(acks[0].fragment_number, storage::format_fragment_number(fragments[0].info.number));
    EXPECT_EQ(acks[1].type, AckEventType::received);
    EXPECT_EQ(acks[1].fragment_number, storage::format_fragment_number(fragments[1].info.number));
    EXPECT_EQ(session.stats().fragments_duplicate, 0u);
}

TEST_F(PutMediaSessionTest, RetentionZeroStreamsGetNoPersistedAck) {
    ASSERT_FALSE(store_->open_stream("live0", 0));
    auto stream = make_stream(kThreeFragments);
    AckLog log;
    auto o = options("live0");
    o.persisted_acks = false;
    PutMediaSession session(*store_, o, log.sink());
    session.feed(stream.bytes);
    session.finish();
    wait_acknowledged(session);
    auto types = log.types();
    EXPECT_EQ(std::count(types.begin(), types.end(), AckEventType::received), 3);
    EXPECT_EQ(std::count(types.begin(), types.end(), AckEventType::persisted), 0);
}

TEST_F(PutMediaSessionTest, StorageFailureGivesArchivalErrorAndTheSessionGoesOn) {
    std::atomic<bool> disk_full{false};
    storage::StoreOptions o;
    o.write_fault = [&disk_full](const std::filesystem::path&, std::size_t) -> std::error_code {
        return disk_full ? std::make_error_code(std::errc::no_space_on_device) : std::error_code{};
    };
    open_store(o);
    auto stream = make_stream(kThreeFragments);
    AckLog log;
    PutMediaSession session(*store_, options(), log.sink());
    const std::size_t second_begins = stream.header.size() + stream.clusters[0].size() + 20;
    session.feed(std::span(stream.bytes).first(second_begins));  // completes fragment 1
    wait_acknowledged(session);
    disk_full = true;
    const std::size_t third_begins = second_begins - 20 + stream.clusters[1].size() + 20;
    EXPECT_EQ(session.feed(std::span(stream.bytes).subspan(second_begins, third_begins - second_begins)),
              PutMediaSession::State::active);
    wait_acknowledged(session);
    disk_full = false;
    session.feed(std::span(stream.bytes).subspan(third_begins));
    session.finish();
    wait_acknowledged(session);

    std::size_t archival_errors = 0;
    for (const auto& ack : log.acks())
        if (ack.type == AckEventType::error && ack.error == AckError::archival_error) ++archival_errors;
    EXPECT_EQ(archival_errors, 1u);
    auto fragments = stored();
    ASSERT_EQ(fragments.size(), 2u);
    EXPECT_EQ(*fragments[0].bytes, stream.clusters[0]);
    EXPECT_EQ(*fragments[1].bytes, stream.clusters[2]);
}

class RecordingLiveSink : public LiveSink {
public:
    void on_live_fragment_begin(const LiveFragmentStart& start) override {
        events.push_back("begin " + std::to_string(start.cluster_timecode));
        header = start.stream_header;
    }
    void on_live_frame(const media::Frame& frame) override {
        events.push_back("frame " + std::to_string(frame.relative_timecode) + (frame.key ? " key" : ""));
    }
    void on_live_fragment_end(const std::string& number) override {
        events.push_back(number.empty() ? "dropped" : "end");
    }
    std::vector<std::string> events;
    std::shared_ptr<const std::vector<std::uint8_t>> header;
};

TEST_F(PutMediaSessionTest, LiveSinkSeesEveryFrameBeforeItsFragmentCompletes) {
    auto stream = make_stream({{1000, 3}, {2000, 2}});
    auto live = std::make_shared<RecordingLiveSink>();
    AckLog log;
    PutMediaSession session(*store_, options(), log.sink(), live);
    // Up to the end of the first fragment's frames: the fragment is not complete yet.
    session.feed(std::span(stream.bytes).first(stream.header.size() + stream.clusters[0].size()));
    EXPECT_EQ(live->events, (std::vector<std::string>{"begin 1000", "frame 0 key", "frame 40", "frame 80"}));
    auto types = log.types();
    EXPECT_EQ(std::count(types.begin(), types.end(), AckEventType::received), 0);
    session.feed(std::span(stream.bytes).subspan(stream.header.size() + stream.clusters[0].size()));
    session.abort();
    EXPECT_EQ(live->events,
              (std::vector<std::string>{"begin 1000", "frame 0 key", "frame 40", "frame 80", "end",
                                        "begin 2000", "frame 0 key", "frame 40", "dropped"}));
    ASSERT_TRUE(live->header);
    EXPECT_EQ(*live->header, stream.header);
}

}  // namespace
}  // namespace kinema::server
