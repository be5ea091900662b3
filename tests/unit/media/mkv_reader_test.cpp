// MkvReader: the stream shapes it must read, chunked any way and truncated anywhere.
#include "kinema/media/mkv_reader.h"

#include <gtest/gtest.h>

#include "mkv_reader_recorder.h"
#include "mkv_test_streams.h"

namespace kinema::media {
namespace {

using namespace test;  // NOLINT: the stream builders and the recorder

struct Sample {
    const char* name;
    Bytes bytes;
};

std::vector<Sample> samples() {
    return {{"KVS producer", kvs_stream()},
            {"ffmpeg-like", ffmpeg_like_stream()},
            {"mkvmerge-like", mkvmerge_like_stream()},
            {"GetMedia", get_media_stream()}};
}

TEST(MkvReader, ReadsTheKvsProducerShape) {
    const Bytes in = kvs_stream();
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    const auto& r = run.rec;
    ASSERT_EQ(r.segments.size(), 1u);
    const SegmentHeader& h = r.segments[0];
    EXPECT_EQ(h.timecode_scale_ns, 1'000'000u);
    EXPECT_EQ(h.muxing_app, "test-mux");
    EXPECT_EQ(h.writing_app, "test-app");
    ASSERT_EQ(h.tracks.size(), 1u);
    EXPECT_EQ(h.tracks[0].number, 1u);
    EXPECT_EQ(h.tracks[0].uid, 1000u);
    EXPECT_EQ(h.tracks[0].type, TrackType::video);
    EXPECT_EQ(h.tracks[0].codec_id, "V_MPEG4/ISO/AVC");
    EXPECT_EQ(h.tracks[0].codec_private, (Bytes{1, 0x64, 0, 0x0A, 0xFF}));
    EXPECT_EQ(h.tracks[0].pixel_width, 64u);
    EXPECT_EQ(h.tracks[0].pixel_height, 48u);

    ASSERT_EQ(r.frames.size(), 9u);
    for (int c = 0; c < 3; ++c) {
        for (int f = 0; f < 3; ++f) {
            const auto i = static_cast<std::size_t>(c * 3 + f);
            EXPECT_EQ(r.frames[i].pts.nanoseconds(), ms(1'700'000'000'000 + 100 * c + 33 * f)) << i;
            EXPECT_EQ(r.frames[i].key, f == 0) << i;
            EXPECT_EQ(r.frames[i].relative_timecode, 33 * f);
            const std::size_t size = f == 0 ? 600 : 20 + 50 * static_cast<std::size_t>(f + c);
            EXPECT_EQ(r.payloads[i], payload(size, static_cast<std::uint8_t>(c * 3 + f))) << i;
        }
    }
    ASSERT_EQ(r.fragments.size(), 3u);
    ASSERT_EQ(r.tags.size(), 1u);
    EXPECT_EQ(
        r.tags[0],
        (std::vector<SimpleTag>{{"AWS_KINESISVIDEO_FRAGMENT_NUMBER", "91343852333181432392682062607"}}));
    for (int c = 0; c < 3; ++c) {
        const auto& f = r.fragments[static_cast<std::size_t>(c)];
        EXPECT_EQ(in[f.offset], 0x1F);  // a Cluster id
        EXPECT_EQ(f.timecode, 1'700'000'000'000 + 100 * c);
        EXPECT_EQ(f.start.nanoseconds(), ms(f.timecode));
        EXPECT_EQ(f.frames, 3u);
        EXPECT_EQ(f.key_frames, 1u);
        // Cluster header (12) + Timecode (8): the key frame's SimpleBlock.
        EXPECT_EQ(f.key_frame_offsets, std::vector<std::uint32_t>{20});
        // Frames at 0, 33, 66 ms, no DefaultDuration: the last frame lasts as long as the one before.
        EXPECT_EQ(f.duration.count(), ms(99));
    }
    // An unknown-size Cluster ends where the next Cluster, Tags or the end of input begins.
    EXPECT_EQ(r.fragments[0].offset + r.fragments[0].size, r.fragments[1].offset);
    EXPECT_EQ(r.fragments[2].offset + r.fragments[2].size, in.size());
    EXPECT_LT(r.fragments[1].offset + r.fragments[1].size, r.fragments[2].offset);  // the Tags between
}

TEST(MkvReader, ReadsKnownSizesSeekHeadCuesAndCrcAsFfmpegWritesThem) {
    const Bytes in = ffmpeg_like_stream();
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    const auto& r = run.rec;
    ASSERT_EQ(r.segments.size(), 1u);
    EXPECT_EQ(r.segments[0].tracks.at(0).default_duration_ns, 40'000'000u);
    ASSERT_EQ(r.frames.size(), 8u);
    for (std::size_t i = 0; i < 8; ++i) {
        EXPECT_EQ(r.frames[i].pts.nanoseconds(), ms(1000 * static_cast<std::int64_t>(i / 4) + 40 * (i % 4)));
        EXPECT_EQ(r.payloads[i], payload(100 + 10 * (i % 4), static_cast<std::uint8_t>(i % 4)));
    }
    ASSERT_EQ(r.fragments.size(), 2u);
    for (const auto& f : r.fragments) {
        // The known size, header included: the Cluster ends exactly there.
        std::uint64_t declared = 0;  // the 8-byte size vint after the 4-byte id
        for (std::size_t i = 5; i < 12; ++i)
            declared = (declared << 8) | in[f.offset + i];
        EXPECT_EQ(f.size, declared + 12);
        EXPECT_EQ(f.frames, 4u);
        EXPECT_EQ(f.key_frames, 1u);
        EXPECT_EQ(f.duration.count(), ms(160));  // 4 frames of DefaultDuration 40 ms
    }
    EXPECT_EQ(r.fragments[0].offset + r.fragments[0].size, r.fragments[1].offset);
    // Cluster header (12) + CRC-32 (6) + Timecode (3 bytes for 0, 4 for 1000).
    EXPECT_EQ(r.fragments[0].key_frame_offsets, std::vector<std::uint32_t>{21});
    EXPECT_EQ(r.fragments[1].key_frame_offsets, std::vector<std::uint32_t>{22});
    ASSERT_EQ(r.tags.size(), 1u);
    EXPECT_EQ(r.tags[0],
              (std::vector<SimpleTag>{{"ENCODER", "Lavf59.27.100"}, {"DURATION", "00:00:02.000000000"}}));
}

TEST(MkvReader, ReadsBlockGroupsAndLacedAudioAsMkvmergeWritesThem) {
    auto run = read(mkvmerge_like_stream());
    ASSERT_FALSE(run.error) << run.error.message();
    const auto& r = run.rec;
    ASSERT_EQ(r.segments.size(), 1u);
    const auto& audio = r.segments[0].tracks.at(1);
    EXPECT_EQ(audio.type, TrackType::audio);
    EXPECT_EQ(audio.codec_id, "A_AAC");
    EXPECT_EQ(audio.sampling_frequency, 48000.0);
    EXPECT_EQ(audio.channels, 2u);

    struct Expected {
        std::uint64_t track;
        std::int64_t pts_ns;
        bool key;
        std::int64_t duration_ns;
        Bytes payload;
    };
    const std::int64_t aac = 21'333'333;
    const std::vector<Expected> expected = {
        {1, ms(5000), true, 0, payload(300, 1)},  // BlockGroup without ReferenceBlock: a key frame
        {2, ms(5000), true, 0, payload(300, 2)},  // Xiph-laced SimpleBlock: DefaultDuration apart
        {2, ms(5000) + aac, true, 0, payload(10, 3)},
        {2, ms(5000) + 2 * aac, true, 0, payload(255, 4)},
        {1, ms(5040), false, 0, payload(50, 5)},       // ReferenceBlock: a delta frame
        {2, ms(5064), true, ms(20), payload(200, 6)},  // EBML-laced Block, BlockDuration 80 ms over 4 frames
        {2, ms(5064) + aac, true, ms(20), payload(100, 7)},
        {2, ms(5064) + 2 * aac, true, ms(20), payload(150, 8)},
        {2, ms(5064) + 3 * aac, true, ms(20), payload(10, 9)},
        {2, ms(5150), true, 0, payload(32, 10)},  // fixed lacing
        {2, ms(5150) + aac, true, 0, payload(32, 11)},
        {1, ms(5080), false, ms(40), payload(60, 12)},
    };
    ASSERT_EQ(r.frames.size(), expected.size());
    for (std::size_t i = 0; i < expected.size(); ++i) {
        EXPECT_EQ(r.frames[i].track, expected[i].track) << i;
        EXPECT_EQ(r.frames[i].pts.nanoseconds(), expected[i].pts_ns) << i;
        EXPECT_EQ(r.frames[i].key, expected[i].key) << i;
        EXPECT_EQ(static_cast<std::int64_t>(r.frames[i].duration_ns), expected[i].duration_ns) << i;
        EXPECT_EQ(r.payloads[i], expected[i].payload) << i;
    }
    // Laced frames share their block's offset.
    EXPECT_EQ(r.frames[1].element_offset, r.frames[3].element_offset);
    ASSERT_EQ(r.fragments.size(), 1u);
    const auto& f = r.fragments[0];
    EXPECT_EQ(f.frames, 12u);
    // Audio frames are all key frames, yet only video key frames count: the first BlockGroup.
    EXPECT_EQ(f.key_frames, 1u);
    EXPECT_EQ(f.key_frame_offsets,
              std::vector<std::uint32_t>{static_cast<std::uint32_t>(r.frames[0].element_offset - f.offset)});
    // From 5000 ms to the latest frame (5150 ms + one AAC frame), plus the last block's BlockDuration.
    EXPECT_EQ(f.duration.count(), ms(150) + aac + ms(40));
}

TEST(MkvReader, ReadsConcatenatedGetMediaStreams) {
    const Bytes one = get_media_stream(1);
    const Bytes in = get_media_stream(3);
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    const auto& r = run.rec;
    ASSERT_EQ(r.segments.size(), 3u);
    ASSERT_EQ(r.fragments.size(), 3u);
    ASSERT_EQ(r.tags.size(), 6u);
    std::vector<std::string> segment_events;
    for (const auto& e : r.events) {
        if (e.rfind("segment", 0) == 0) segment_events.push_back(e.substr(0, e.find(' ', 9)));
    }
    // Each on_segment names the offset of its own EBML header.
    EXPECT_EQ(segment_events,
              (std::vector<std::string>{"segment @0", "segment @" + std::to_string(one.size()),
                                        "segment @" + std::to_string(2 * one.size())}));
    for (int i = 0; i < 3; ++i) {
        const auto& f = r.fragments[static_cast<std::size_t>(i)];
        EXPECT_EQ(f.timecode, 1'700'000'000'000 + 1000 * i);
        EXPECT_EQ(f.frames, 2u);
        EXPECT_EQ(f.duration.count(), ms(1000));  // frames at 0 and 500 ms, the last lasting 500 ms
        EXPECT_EQ(r.tags[static_cast<std::size_t>(2 * i)].at(0).value, std::to_string(9134 + i));
        EXPECT_EQ(r.tags[static_cast<std::size_t>(2 * i + 1)].at(0).name,
                  "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW");
    }
    // Per fragment: its headers, its tags, the cluster, then the trailing tags end the unknown-size cluster.
    const std::vector<std::string> kinds = {"segment", "tags", "begin", "frame", "frame", "end", "tags"};
    ASSERT_EQ(r.events.size(), 3 * kinds.size());
    for (std::size_t i = 0; i < r.events.size(); ++i) {
        EXPECT_EQ(r.events[i].rfind(kinds[i % kinds.size()], 0), 0u) << r.events[i];
    }
}

TEST(MkvReader, EverySplitGivesTheSameEvents) {
    for (const auto& sample : samples()) {
        SCOPED_TRACE(sample.name);
        const auto whole = read(sample.bytes);
        ASSERT_FALSE(whole.error) << whole.error.message();
        const auto& expected = whole.rec.events;
        for (std::size_t cut = 0; cut <= sample.bytes.size(); ++cut) {
            ASSERT_EQ(read(sample.bytes, {cut}).rec.events, expected) << "split at " << cut;
        }
        for (std::size_t a = 1; a < sample.bytes.size(); a += 37) {
            for (std::size_t b = a; b < sample.bytes.size(); b += 101) {
                ASSERT_EQ(read(sample.bytes, {a, b}).rec.events, expected) << "splits at " << a << ", " << b;
            }
        }
        EXPECT_EQ(read_bytewise(sample.bytes).rec.events, expected) << "one byte at a time";
    }
}

TEST(MkvReader, TruncationAtEveryPositionDeliversWhatWasComplete) {
    for (const auto& sample : samples()) {
        SCOPED_TRACE(sample.name);
        // One byte at a time, every event is reported as soon as its last byte arrived.
        const auto full = read_bytewise(sample.bytes);
        ASSERT_FALSE(full.error);
        for (std::size_t cut = 0; cut <= sample.bytes.size(); ++cut) {
            Recorder rec;
            rec.input = sample.bytes;
            MkvReader reader(rec);
            ASSERT_FALSE(reader.feed({sample.bytes.data(), cut})) << "cut at " << cut;
            std::vector<std::string> due;
            for (std::size_t i = 0; i < full.rec.events.size() && full.rec.stamps[i] <= cut; ++i) {
                due.push_back(full.rec.events[i]);
            }
            ASSERT_EQ(rec.events, due) << "cut at " << cut;
            const auto before_finish = rec.events.size();
            auto error = reader.finish();
            if (error) {
                EXPECT_EQ(error.code, make_error_code(Errc::truncated))
                    << "cut at " << cut << ": " << error.message();
                EXPECT_EQ(error.offset, cut);
                EXPECT_EQ(rec.events.size(), before_finish);  // nothing half-read is reported
            } else {
                for (std::size_t i = before_finish; i < rec.events.size(); ++i) {
                    EXPECT_TRUE(rec.events[i].rfind("end", 0) == 0 || rec.events[i].rfind("segment", 0) == 0)
                        << "cut at " << cut << ": " << rec.events[i];
                }
            }
            if (cut == sample.bytes.size()) {
                EXPECT_FALSE(error) << error.message();
            }
        }
    }
}

TEST(MkvReader, LiveStreamCutBetweenFragmentsEndsCleanly) {
    const Bytes in = kvs_stream();
    const auto whole = read(in);
    for (const auto& f : whole.rec.fragments) {
        Bytes prefix(in.begin(), in.begin() + static_cast<std::ptrdiff_t>(f.offset + f.size));
        auto run = read(prefix);
        EXPECT_FALSE(run.error) << run.error.message();
        EXPECT_EQ(run.rec.fragments.back().size, f.size);
        EXPECT_EQ(run.rec.fragments.back().frames, f.frames);
    }
}

TEST(MkvReader, FramesInsideTheChunkAreNotCopied) {
    for (const auto& sample : samples()) {
        SCOPED_TRACE(sample.name);
        auto whole = read(sample.bytes);
        EXPECT_EQ(whole.rec.frames_copied, 0);
        EXPECT_EQ(static_cast<std::size_t>(whole.rec.frames_in_place), whole.rec.frames.size());
    }
    // Cut inside the first 600-byte key frame of the KVS stream: only that frame is copied.
    const Bytes in = kvs_stream();
    const auto first = read(in).rec.frames.at(0).element_offset;
    auto split = read(in, {static_cast<std::size_t>(first) + 300});
    EXPECT_EQ(split.rec.frames_copied, 1);
    EXPECT_EQ(split.rec.payloads, read(in).rec.payloads);
}

TEST(MkvReader, HeaderIsAvailableOnceTracksAreRead) {
    Recorder rec;
    MkvReader reader(rec);
    Bytes in;
    write_ebml_header(in);
    ebml::open_unknown_size_master(ids::kSegment, in);
    write_info(in);
    ASSERT_FALSE(reader.feed(in));
    EXPECT_EQ(reader.header(), nullptr);
    Bytes tracks;
    write_tracks(tracks, {TrackSpec{.number = 7}});
    ASSERT_FALSE(reader.feed(tracks));
    ASSERT_NE(reader.header(), nullptr);
    EXPECT_EQ(reader.header()->tracks.at(0).number, 7u);
    EXPECT_EQ(reader.offset(), in.size() + tracks.size());
    // A new stream's EBML header and Segment replace it.
    Bytes next;
    write_ebml_header(next);
    ebml::open_unknown_size_master(ids::kSegment, next);
    ASSERT_FALSE(reader.feed(next));
    EXPECT_EQ(reader.header(), nullptr);
    EXPECT_FALSE(reader.finish());
}

TEST(MkvReader, SkipsVoidAndCrcInsideUnknownSizeClusters) {
    Bytes in = cluster_head(10);
    write_crc(in);
    write_simple_block(in, 1, 0, true, payload(10, 1));
    ebml::write_binary(ids::kVoid, Bytes(300, 0), in);
    write_simple_block(in, 1, 5, false, payload(10, 2));
    ebml::write_uint(ids::kPrevSize, 1234, in);
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    ASSERT_EQ(run.rec.frames.size(), 2u);
    EXPECT_EQ(run.rec.payloads[1], payload(10, 2));
    ASSERT_EQ(run.rec.fragments.size(), 1u);
    EXPECT_EQ(run.rec.fragments[0].frames, 2u);
    EXPECT_EQ(run.rec.fragments[0].duration.count(), ms(10));  // 0 and 5 ms, the last lasting 5 ms
}

TEST(MkvReader, LacedFramesWithoutDefaultDurationShareTheBlockTime) {
    Bytes in = cluster_head(100);
    const std::vector<Bytes> frames = {payload(5, 1), payload(6, 2), payload(7, 3)};
    ebml::write_binary(ids::kSimpleBlock, block_body(1, -3, 0x80 | 0x06, ebml_lace_header(frames), frames),
                       in);
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    ASSERT_EQ(run.rec.frames.size(), 3u);
    for (std::size_t i = 0; i < 3; ++i) {
        EXPECT_EQ(run.rec.frames[i].pts.nanoseconds(), ms(97));
        EXPECT_EQ(run.rec.frames[i].relative_timecode, -3);
        EXPECT_EQ(run.rec.payloads[i], frames[i]);
    }
    EXPECT_EQ(run.rec.fragments.at(0).frames, 3u);
    EXPECT_EQ(run.rec.fragments.at(0).duration.count(), 0);  // starts before the cluster, no interval known
}

TEST(MkvReader, AppliesTheTimecodeScale) {
    Bytes in;
    write_ebml_header(in);
    ebml::open_unknown_size_master(ids::kSegment, in);
    write_info(in, 100'000);  // 100 us ticks
    write_tracks(in, {TrackSpec{}});
    ebml::open_unknown_size_master(ids::kCluster, in);
    ebml::write_uint(ids::kTimecode, 50, in);
    write_simple_block(in, 1, -20, true, payload(4, 0));
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    EXPECT_EQ(run.rec.frames.at(0).pts.nanoseconds(), 30 * 100'000);
    EXPECT_EQ(run.rec.fragments.at(0).start.nanoseconds(), 50 * 100'000);
}

TEST(MkvReader, AudioTracksGetTheMatroskaDefaults) {
    // mkvmerge leaves out an 8 kHz SamplingFrequency and a single channel: the spec's defaults.
    Bytes in;
    write_ebml_header(in);
    ebml::open_unknown_size_master(ids::kSegment, in);
    auto tracks = ebml::open_master(ids::kTracks, in);
    auto entry = ebml::open_master(ids::kTrackEntry, in);
    ebml::write_uint(ids::kTrackNumber, 2, in);
    ebml::write_uint(ids::kTrackType, 2, in);
    ebml::write_string(ids::kCodecId, "A_VORBIS", in);
    auto audio = ebml::open_master(ids::kAudio, in);
    ebml::write_uint(ids::kBitDepth, 32, in);
    ebml::close_master(audio, in);
    ebml::close_master(entry, in);
    ebml::close_master(tracks, in);
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    ASSERT_EQ(run.rec.segments.size(), 1u);  // announced at the end of the Segment: no Info, no Cluster
    const auto& track = run.rec.segments[0].tracks.at(0);
    EXPECT_EQ(track.type, TrackType::audio);
    EXPECT_EQ(track.sampling_frequency, 8000.0);
    EXPECT_EQ(track.channels, 1u);
    EXPECT_EQ(run.rec.segments[0].timecode_scale_ns, 1'000'000u);
}

TEST(MkvReader, AudioOnlyFragmentsCountAudioKeyFrames) {
    Bytes in;
    write_ebml_header(in);
    ebml::open_unknown_size_master(ids::kSegment, in);
    write_info(in);
    write_tracks(in, {TrackSpec{.number = 1, .type = TrackType::audio, .codec = "A_AAC"}});
    ebml::open_unknown_size_master(ids::kCluster, in);
    ebml::write_uint(ids::kTimecode, 0, in);
    for (int i = 0; i < 3; ++i)
        write_simple_block(in, 1, static_cast<std::int16_t>(21 * i), true, payload(9, 0));
    auto run = read(in);
    ASSERT_FALSE(run.error) << run.error.message();
    ASSERT_EQ(run.rec.fragments.size(), 1u);
    EXPECT_EQ(run.rec.fragments[0].key_frames, 3u);
    EXPECT_EQ(run.rec.fragments[0].key_frame_offsets.size(), 3u);
}

}  // namespace
}  // namespace kinema::media
