// The generic EBML push parser: headers, sizes, unknown sizes, limits, chunking and value decoding.
#include "ebml_reader.h"

#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "crc32.h"
#include "kinema/media/ebml_ids.h"
#include "kinema/media/ebml_writer.h"

namespace kinema::media::ebml {
namespace {

namespace ids = ebml_id;

// A small schema: Segment > Cluster > (Timecode, SimpleBlock, BlockGroup > Block); everything else skipped.
// Records every callback as text so runs with different chunkings can be compared.
class Recorder final : public EbmlHandler {
public:
    std::set<std::uint32_t> masters = {ids::kSegment, ids::kCluster, ids::kBlockGroup};
    std::set<std::uint32_t> leaves = {ids::kTimecode, ids::kSimpleBlock, ids::kBlock};
    std::vector<std::string> events;
    std::vector<ElementHeader> headers;
    const EbmlReader* reader = nullptr;
    std::span<const std::uint8_t> chunk;  // the chunk being fed, to tell zero-copy values
    int values_in_place = 0;
    int values_buffered = 0;

    ParseError on_element(const ElementHeader& e, const ElementHeader* parent, Action& action) override {
        headers.push_back(e);
        events.push_back("start " + std::to_string(e.id) + " @" + std::to_string(e.offset) + " parent " +
                         std::to_string(parent != nullptr ? parent->id : 0) + " hdr " +
                         std::to_string(e.header_size) +
                         (e.unknown_size ? " unknown" : " size " + std::to_string(e.size)));
        action = masters.count(e.id) != 0  ? Action::descend
                 : leaves.count(e.id) != 0 ? Action::read
                                           : Action::skip;
        return {};
    }
    ParseError on_value(const ElementHeader& e, std::span<const std::uint8_t> value) override {
        std::string text = "value " + std::to_string(e.id) + " =";
        for (auto b : value)
            text += " " + std::to_string(b);
        events.push_back(text);
        const bool in_place = !value.empty() && value.data() >= chunk.data() &&
                              value.data() + value.size() <= chunk.data() + chunk.size();
        EXPECT_EQ(in_place || value.empty(), !reader->value_is_buffered() || value.empty());
        (in_place ? values_in_place : values_buffered) += value.empty() ? 0 : 1;
        return {};
    }
    ParseError on_master_end(const ElementHeader& e) override {
        events.push_back("end " + std::to_string(e.id) + " size " + std::to_string(e.size));
        return {};
    }
    bool ends_unknown_size(std::uint32_t open_id, std::uint32_t next_id) const override {
        if (next_id == ids::kSegment || next_id == ids::kEbml) return true;
        return open_id == ids::kCluster && next_id == ids::kCluster;
    }
};

struct Run {
    std::vector<std::string> events;
    ParseError error;
    int values_in_place = 0;
    int values_buffered = 0;
};

// Feeds `bytes` cut at `cuts` (ascending offsets), then finish().
Run run(const Bytes& bytes, std::vector<std::size_t> cuts = {}, EbmlReaderLimits limits = {},
        Recorder* recorder_out = nullptr) {
    Recorder local;
    Recorder& recorder = recorder_out != nullptr ? *recorder_out : local;
    EbmlReader reader(recorder, limits);
    recorder.reader = &reader;
    cuts.push_back(bytes.size());
    std::size_t at = 0;
    Run result;
    for (auto cut : cuts) {
        recorder.chunk = {bytes.data() + at, cut - at};
        result.error = reader.feed(recorder.chunk);
        at = cut;
        if (result.error) break;
    }
    if (!result.error) result.error = reader.finish();
    if (result.error) {
        result.events = recorder.events;
        result.events.push_back("error " + result.error.message());
    } else {
        result.events = recorder.events;
    }
    result.values_in_place = recorder.values_in_place;
    result.values_buffered = recorder.values_buffered;
    return result;
}

Run run_bytewise(const Bytes& bytes, EbmlReaderLimits limits = {}) {
    std::vector<std::size_t> cuts;
    for (std::size_t i = 1; i < bytes.size(); ++i)
        cuts.push_back(i);
    return run(bytes, cuts, limits);
}

Bytes cat(std::initializer_list<Bytes> parts) {
    Bytes out;
    for (const auto& p : parts)
        out.insert(out.end(), p.begin(), p.end());
    return out;
}

// Segment(unknown) > Cluster(unknown) > Timecode, SimpleBlock, Void, BlockGroup(known) > Block;
// Cluster(known 8-byte size) > Timecode, SimpleBlock spanning 300 bytes; then a second Segment.
Bytes sample_document() {
    Bytes out;
    open_unknown_size_master(ids::kSegment, out);
    open_unknown_size_master(ids::kCluster, out);
    write_uint(ids::kTimecode, 1000, out);
    write_binary(ids::kSimpleBlock, Bytes{1, 2, 3, 4}, out);
    write_binary(ids::kVoid, Bytes(5, 0), out);
    auto group = open_master(ids::kBlockGroup, out);
    write_binary(ids::kBlock, Bytes{9, 8, 7}, out);
    write_uint(ids::kReferenceBlock, 1, out);
    close_master(group, out);
    auto cluster = open_master(ids::kCluster, out);
    write_uint(ids::kTimecode, 2000, out);
    write_binary(ids::kSimpleBlock, Bytes(300, 0x5A), out);
    close_master(cluster, out);
    open_unknown_size_master(ids::kSegment, out);
    write_binary(ids::kCrc32, Bytes{0, 0, 0, 0}, out);
    return out;
}

TEST(EbmlReader, ReadsHeadersOfEveryWidth) {
    struct Case {
        const char* name;
        Bytes bytes;
        std::uint32_t id;
        std::uint64_t size;
        int header_size;
        bool unknown;
    };
    const std::vector<Case> cases = {
        {"1-byte id, 1-byte size", {0xEC, 0x82, 0, 0}, 0xEC, 2, 2, false},
        {"2-byte size", {0xEC, 0x40, 0x03, 1, 2, 3}, 0xEC, 3, 3, false},
        {"8-byte size", {0xEC, 0x01, 0, 0, 0, 0, 0, 0, 0x01, 7}, 0xEC, 1, 9, false},
        {"2-byte id", {0x42, 0x86, 0x81, 1}, 0x4286, 1, 3, false},
        {"3-byte id", {0x2A, 0xD7, 0xB1, 0x80}, 0x2AD7B1, 0, 4, false},
        {"4-byte id, size 0", {0x1A, 0x45, 0xDF, 0xA3, 0x80}, 0x1A45DFA3, 0, 5, false},
        {"1-byte unknown size", {0x18, 0x53, 0x80, 0x67, 0xFF}, ids::kSegment, 0, 5, true},
        {"2-byte unknown size", {0x18, 0x53, 0x80, 0x67, 0x7F, 0xFF}, ids::kSegment, 0, 6, true},
        {"8-byte unknown size",
         {0x18, 0x53, 0x80, 0x67, 0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF},
         ids::kSegment,
         0,
         12,
         true},
        {"all-ones 1-byte size is not unknown at 2 bytes", {0xEC, 0x40, 0x7F}, 0xEC, 0x7F, 3, false},
    };
    for (const auto& c : cases) {
        Bytes input = c.bytes;
        // Give the known sizes their bytes so the input is complete.
        if (!c.unknown && c.size > input.size() - static_cast<std::size_t>(c.header_size)) {
            input.resize(static_cast<std::size_t>(c.header_size) + c.size, 0);
        }
        Recorder recorder;
        auto result = run(input, {}, {}, &recorder);
        EXPECT_FALSE(result.error) << c.name << ": " << result.error.message();
        ASSERT_FALSE(recorder.headers.empty()) << c.name;
        const auto& h = recorder.headers.front();
        EXPECT_EQ(h.id, c.id) << c.name;
        EXPECT_EQ(h.header_size, c.header_size) << c.name;
        EXPECT_EQ(h.unknown_size, c.unknown) << c.name;
        if (!c.unknown) {
            EXPECT_EQ(h.size, c.size) << c.name;
        }
        EXPECT_EQ(h.offset, 0u) << c.name;
    }
}

struct ErrorCase {
    const char* name;
    Bytes bytes;
    Errc code;
    std::uint64_t offset;
    std::uint32_t element;
    EbmlReaderLimits limits{};
};

void expect_error(const ErrorCase& c, const Run& result) {
    EXPECT_EQ(result.error.code, make_error_code(c.code)) << c.name << ": " << result.error.message();
    EXPECT_EQ(result.error.offset, c.offset) << c.name << ": " << result.error.message();
    EXPECT_EQ(result.error.element_id, c.element) << c.name << ": " << result.error.message();
    EXPECT_NE(result.error.message().find("at byte " + std::to_string(c.offset)), std::string::npos)
        << result.error.message();
}

TEST(EbmlReader, RejectsMalformedAndOversizedHeaders) {
    const Bytes segment = {0x18, 0x53, 0x80, 0x67, 0xFF};
    const Bytes cluster = {0x1F, 0x43, 0xB6, 0x75, 0xFF};
    const std::vector<ErrorCase> cases = {
        {"id first byte 0x00", {0x00, 0x81, 0}, Errc::invalid_vint, 0, 0},
        {"5-byte id", {0x08, 1, 2, 3, 4, 0x80}, Errc::invalid_vint, 0, 0},
        {"reserved id 0xFF", {0xFF, 0x80}, Errc::invalid_vint, 0, 0},
        {"reserved id 0x80 in a cluster", cat({segment, cluster, {0x80, 0x80}}), Errc::invalid_vint, 10,
         ids::kCluster},
        {"size first byte 0x00", cat({segment, cluster, {0xA3, 0x00, 1}}), Errc::invalid_vint, 10,
         ids::kSimpleBlock},
        {"size above the element limit",
         cat({segment, {0xEC, 0x01, 0, 0, 0x01, 0, 0, 0, 0}}),
         Errc::element_too_large,
         5,
         ids::kVoid,
         {.max_element_size = 1 << 20}},
        {"child larger than its parent",
         {0x18, 0x53, 0x80, 0x67, 0x84, 0xEC, 0x84, 0, 0},
         Errc::child_overflows_parent,
         5,
         ids::kVoid},
        {"child header crossing its parent's end",
         {0x18, 0x53, 0x80, 0x67, 0x81, 0x42, 0x86, 0x80},
         Errc::child_overflows_parent,
         5,
         0x4286},
        {"unknown size on a leaf", cat({segment, cluster, {0xA3, 0xFF}}), Errc::unknown_size_not_allowed, 10,
         ids::kSimpleBlock},
        {"unknown size on a skipped element", cat({segment, {0xEC, 0xFF}}), Errc::unknown_size_not_allowed, 5,
         ids::kVoid},
        {"nesting past max_depth",
         cat({segment, cluster, {0xA0, 0xFF}}),
         Errc::nesting_too_deep,
         10,
         ids::kBlockGroup,
         {.max_depth = 2}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        auto whole = run(c.bytes, {}, c.limits);
        expect_error(c, whole);
        // One byte at a time fails the same way at the same place.
        EXPECT_EQ(run_bytewise(c.bytes, c.limits).events, whole.events);
    }
}

TEST(EbmlReader, ErrorsAreSticky) {
    Recorder recorder;
    EbmlReader reader(recorder, {});
    recorder.reader = &reader;
    const Bytes bad = {0x00, 0x81};
    auto first = reader.feed(bad);
    ASSERT_EQ(first.code, make_error_code(Errc::invalid_vint));
    const Bytes good = {0xEC, 0x80};
    auto again = reader.feed(good);
    EXPECT_EQ(again.code, first.code);
    EXPECT_EQ(again.offset, first.offset);
    EXPECT_EQ(reader.finish().code, first.code);
    EXPECT_TRUE(recorder.events.empty());
}

TEST(EbmlReader, UnknownSizeMastersEndAtTheNextSiblingOrParentLevelElement) {
    auto result = run(sample_document());
    ASSERT_FALSE(result.error) << result.error.message();
    const std::vector<std::string> expected = {
        "start 408125543 @0 parent 0 hdr 12 unknown",
        "start 524531317 @12 parent 408125543 hdr 12 unknown",
        "start 231 @24 parent 524531317 hdr 2 size 2",
        "value 231 = 3 232",
        "start 163 @28 parent 524531317 hdr 2 size 4",
        "value 163 = 1 2 3 4",
        "start 236 @34 parent 524531317 hdr 2 size 5",
        "start 160 @41 parent 524531317 hdr 9 size 8",
        "start 161 @50 parent 160 hdr 2 size 3",
        "value 161 = 9 8 7",
        "start 251 @55 parent 160 hdr 2 size 1",
        "end 160 size 8",
        // The next Cluster ends the unknown-size one; its measured size runs up to it.
        "end 524531317 size 34",
        "start 524531317 @58 parent 408125543 hdr 12 size 307",
        "start 231 @70 parent 524531317 hdr 2 size 2",
        "value 231 = 7 208",
        "start 163 @74 parent 524531317 hdr 3 size 300",
        "value 163 =" +
            [] {
                std::string s;
                for (int i = 0; i < 300; ++i)
                    s += " 90";
                return s;
            }(),
        "end 524531317 size 307",
        // A new Segment ends the unknown-size Segment; finish() ends the last one.
        "end 408125543 size 365",
        "start 408125543 @377 parent 0 hdr 12 unknown",
        // Its first child, a CRC-32 (of nothing: 0), is the reader's own and checked at the end.
        "end 408125543 size 6",
    };
    EXPECT_EQ(result.events, expected);
}

TEST(EbmlReader, UnknownSizeMasterEndsWithItsKnownSizeParent) {
    Bytes out;
    auto segment = open_master(ids::kSegment, out);
    open_unknown_size_master(ids::kCluster, out);
    write_uint(ids::kTimecode, 5, out);
    close_master(segment, out);
    write_binary(ids::kVoid, Bytes{}, out);
    auto result = run(out);
    ASSERT_FALSE(result.error) << result.error.message();
    ASSERT_GE(result.events.size(), 7u);
    EXPECT_EQ(result.events[4], "end 524531317 size 3");
    EXPECT_EQ(result.events[5], "end 408125543 size 15");
    EXPECT_EQ(result.events[6], "start 236 @27 parent 0 hdr 2 size 0");
}

TEST(EbmlReader, EverySplitGivesTheSameEvents) {
    const Bytes doc = sample_document();
    const auto whole = run(doc);
    ASSERT_FALSE(whole.error);
    EXPECT_EQ(whole.values_buffered, 0);  // one chunk: every value is handed out in place
    for (std::size_t cut = 0; cut <= doc.size(); ++cut) {
        EXPECT_EQ(run(doc, {cut}).events, whole.events) << "split at " << cut;
    }
    for (std::size_t a = 0; a <= doc.size(); a += 7) {
        for (std::size_t b = a; b <= doc.size(); b += 5) {
            EXPECT_EQ(run(doc, {a, b}).events, whole.events) << "splits at " << a << ", " << b;
        }
    }
    const auto bytewise = run_bytewise(doc);
    EXPECT_EQ(bytewise.events, whole.events);
    EXPECT_EQ(bytewise.values_in_place, 0);
}

TEST(EbmlReader, ValuesInsideTheChunkAreNotCopied) {
    const Bytes doc = sample_document();
    // Cut inside the 300-byte SimpleBlock (it starts at 74, its value at 77): only that value is copied.
    auto result = run(doc, {200});
    ASSERT_FALSE(result.error);
    EXPECT_EQ(result.values_buffered, 1);
    EXPECT_EQ(result.values_in_place, 4);
}

TEST(EbmlReader, FinishInsideAnElementIsTruncated) {
    const Bytes doc = sample_document();
    const auto full = run(doc).events;
    // Clean ends: between elements of unknown-size masters, and after the known-size Cluster.
    const std::set<std::size_t> clean = {0, 12, 24, 28, 34, 41, 58, 377, 389, doc.size()};
    for (std::size_t cut = 0; cut <= doc.size(); ++cut) {
        Recorder recorder;
        EbmlReader reader(recorder, {});
        recorder.reader = &reader;
        recorder.chunk = {doc.data(), cut};
        ASSERT_FALSE(reader.feed(recorder.chunk)) << "cut at " << cut;
        // Whatever was complete was reported, exactly as in the full run.
        ASSERT_LE(recorder.events.size(), full.size());
        EXPECT_TRUE(std::equal(recorder.events.begin(), recorder.events.end(), full.begin()))
            << "cut at " << cut;
        auto error = reader.finish();
        if (clean.count(cut) != 0) {
            EXPECT_FALSE(error) << "cut at " << cut << ": " << error.message();
        } else {
            EXPECT_EQ(error.code, make_error_code(Errc::truncated)) << "cut at " << cut;
            EXPECT_EQ(error.offset, cut);
        }
    }
}

TEST(EbmlReader, TruncationNamesTheElement) {
    const Bytes doc = sample_document();
    Bytes prefix(doc.begin(), doc.begin() + 100);  // inside the 300-byte SimpleBlock value
    auto result = run(prefix);
    EXPECT_EQ(result.error.code, make_error_code(Errc::truncated));
    EXPECT_EQ(result.error.element_id, ids::kSimpleBlock);
    EXPECT_NE(result.error.message().find("SimpleBlock"), std::string::npos) << result.error.message();
    // Inside the second Cluster's header: the first (unknown-size) Cluster is still the open one.
    prefix.assign(doc.begin(), doc.begin() + 60);
    result = run(prefix);
    EXPECT_EQ(result.error.code, make_error_code(Errc::truncated));
    EXPECT_EQ(result.error.element_id, ids::kCluster);
    // Inside the known-size Cluster: it is named.
    prefix.assign(doc.begin(), doc.begin() + 72);
    result = run(prefix);
    EXPECT_EQ(result.error.code, make_error_code(Errc::truncated));
    EXPECT_EQ(result.error.element_id, ids::kTimecode);
    prefix.assign(doc.begin(), doc.begin() + 74);
    result = run(prefix);
    EXPECT_EQ(result.error.element_id, ids::kCluster);
    EXPECT_NE(result.error.message().find("303 bytes before the end of Cluster"), std::string::npos)
        << result.error.message();
}

TEST(EbmlReader, DecodesUnsignedAndSignedIntegers) {
    struct Case {
        Bytes bytes;
        std::uint64_t unsigned_value;
        std::int64_t signed_value;
    };
    const std::vector<Case> cases = {
        {{}, 0, 0},
        {{0x7F}, 0x7F, 127},
        {{0x80}, 0x80, -128},
        {{0xFF, 0xFE}, 0xFFFE, -2},
        {{0x01, 0x00, 0x00}, 0x10000, 0x10000},
        {{0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF}, ~0ull, -1},
        {{0x80, 0, 0, 0, 0, 0, 0, 0}, 1ull << 63, std::numeric_limits<std::int64_t>::min()},
    };
    for (const auto& c : cases) {
        std::uint64_t u = 1;
        std::int64_t s = 1;
        EXPECT_FALSE(decode_uint(c.bytes, u));
        EXPECT_FALSE(decode_int(c.bytes, s));
        EXPECT_EQ(u, c.unsigned_value);
        EXPECT_EQ(s, c.signed_value);
    }
    std::uint64_t u = 0;
    std::int64_t s = 0;
    const Bytes nine(9, 0);
    EXPECT_EQ(decode_uint(nine, u), make_error_code(Errc::invalid_element_size));
    EXPECT_EQ(decode_int(nine, s), make_error_code(Errc::invalid_element_size));
}

TEST(EbmlReader, DecodesFloatsDatesAndStrings) {
    double value = -1;
    EXPECT_FALSE(decode_float(Bytes{}, value));
    EXPECT_EQ(value, 0.0);
    EXPECT_FALSE(decode_float(Bytes{0x47, 0x3B, 0x80, 0x00}, value));  // 48000.0f
    EXPECT_EQ(value, 48000.0);
    Bytes eight;
    write_float(ids::kDuration, 1234.5, eight);
    EXPECT_FALSE(decode_float(std::span(eight).subspan(3), value));
    EXPECT_EQ(value, 1234.5);
    for (std::size_t bad : {1u, 2u, 3u, 5u, 9u}) {
        EXPECT_EQ(decode_float(Bytes(bad, 0), value), make_error_code(Errc::invalid_element_size)) << bad;
    }

    std::int64_t date = 0;
    Bytes written;
    write_date(ids::kDateUtc, -5'000'000'000, written);
    EXPECT_FALSE(decode_date(std::span(written).subspan(3), date));
    EXPECT_EQ(date, -5'000'000'000);
    EXPECT_FALSE(decode_date(Bytes{}, date));
    EXPECT_EQ(date, 0);
    EXPECT_EQ(decode_date(Bytes(4, 0), date), make_error_code(Errc::invalid_element_size));

    const Bytes padded = {'w', 'e', 'b', 'm', 0, 0};
    EXPECT_EQ(decode_string(padded), "webm");
    EXPECT_EQ(decode_string(Bytes{}), "");
    const Bytes plain = {'m', 'k', 'v'};
    EXPECT_EQ(decode_string(plain), "mkv");
}

TEST(EbmlReader, VintLengthFromTheFirstByte) {
    EXPECT_EQ(vint_length(0x80), 1);
    EXPECT_EQ(vint_length(0x40), 2);
    EXPECT_EQ(vint_length(0x1A), 4);
    EXPECT_EQ(vint_length(0x01), 8);
    EXPECT_EQ(vint_length(0x00), 0);
}

// ---- CRC-32 elements (RFC 8794 section 11.3.1) --------------------------------------------------------

// A master whose first child is a CRC-32 of `body` (or of `body` with one byte changed, `corrupt`).
Bytes master_with_crc(std::uint32_t id, const Bytes& body, bool unknown_size = false, bool corrupt = false) {
    const std::uint32_t crc = crc32_update(0, body);
    Bytes out;
    std::optional<OpenMaster> master;
    if (unknown_size) {
        open_unknown_size_master(id, out);
    } else {
        master = open_master(id, out);
    }
    write_binary(ids::kCrc32,
                 Bytes{static_cast<std::uint8_t>(crc), static_cast<std::uint8_t>(crc >> 8),
                       static_cast<std::uint8_t>(crc >> 16), static_cast<std::uint8_t>(crc >> 24)},
                 out);
    const std::size_t body_at = out.size();
    out.insert(out.end(), body.begin(), body.end());
    if (corrupt) out[body_at + body.size() / 2] ^= 0x01;
    if (master) close_master(*master, out);
    return out;
}

Bytes cluster_body(std::uint8_t fill) {
    Bytes body;
    write_uint(ids::kTimecode, 1000, body);
    write_binary(ids::kSimpleBlock, Bytes(300, fill), body);
    auto group = open_master(ids::kBlockGroup, body);
    write_binary(ids::kBlock, Bytes{9, 8, 7}, body);
    close_master(group, body);
    return body;
}

TEST(EbmlReader, AMatchingCrc32IsCheckedAndHiddenFromTheHandlerAtEveryChunking) {
    Bytes document;
    open_unknown_size_master(ids::kSegment, document);
    const Bytes known = master_with_crc(ids::kCluster, cluster_body(0x11));
    // An unknown-size Cluster ends at the next Cluster, whose header is not part of its data; inside it a
    // BlockGroup with its own CRC-32 nests in the Cluster's.
    Bytes group_body;
    write_binary(ids::kBlock, Bytes{1, 2, 3, 4, 5}, group_body);
    Bytes unknown_body;
    write_uint(ids::kTimecode, 2000, unknown_body);
    const Bytes group = master_with_crc(ids::kBlockGroup, group_body);
    unknown_body.insert(unknown_body.end(), group.begin(), group.end());
    const Bytes unknown = master_with_crc(ids::kCluster, unknown_body, true);
    document.insert(document.end(), known.begin(), known.end());
    document.insert(document.end(), unknown.begin(), unknown.end());
    const Bytes last = master_with_crc(ids::kCluster, cluster_body(0x22));
    document.insert(document.end(), last.begin(), last.end());

    const auto whole = run(document);
    ASSERT_FALSE(whole.error) << whole.error.message();
    for (const auto& event : whole.events)
        EXPECT_EQ(event.find("start 191 "), std::string::npos) << event;  // 0xBF, CRC-32
    EXPECT_EQ(run_bytewise(document).events, whole.events);
    for (std::size_t cut = 1; cut < document.size(); cut += 7)
        EXPECT_EQ(run(document, {cut}).events, whole.events) << cut;
}

TEST(EbmlReader, AMismatchedCrc32FailsAtItsMasterWhateverTheChunking) {
    struct Case {
        const char* name;
        Bytes document;
        std::uint64_t master_offset;
        std::uint32_t master_id;
        int good_before = 0;  // masters with the same id that end (well) before the bad one
    };
    std::vector<Case> cases;
    {
        Bytes doc;
        open_unknown_size_master(ids::kSegment, doc);
        const Bytes good = master_with_crc(ids::kCluster, cluster_body(1));
        doc.insert(doc.end(), good.begin(), good.end());
        const std::uint64_t at = doc.size();
        const Bytes bad = master_with_crc(ids::kCluster, cluster_body(2), false, true);
        doc.insert(doc.end(), bad.begin(), bad.end());
        cases.push_back({"known-size cluster", doc, at, ids::kCluster, 1});
    }
    {
        Bytes doc;
        open_unknown_size_master(ids::kSegment, doc);
        const std::uint64_t at = doc.size();
        const Bytes bad = master_with_crc(ids::kCluster, cluster_body(3), true, true);
        doc.insert(doc.end(), bad.begin(), bad.end());
        const Bytes next = master_with_crc(ids::kCluster, cluster_body(4));
        doc.insert(doc.end(), next.begin(), next.end());
        cases.push_back({"unknown-size cluster ended by the next", doc, at, ids::kCluster});
    }
    {
        // The last unknown-size master ends at finish().
        Bytes doc;
        open_unknown_size_master(ids::kSegment, doc);
        const std::uint64_t at = doc.size();
        const Bytes bad = master_with_crc(ids::kCluster, cluster_body(5), true, true);
        doc.insert(doc.end(), bad.begin(), bad.end());
        cases.push_back({"unknown-size cluster at the end", doc, at, ids::kCluster});
    }
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        for (const auto& result : std::vector{run(c.document), run_bytewise(c.document),
                                              run(c.document, {c.document.size() / 3})}) {
            ASSERT_TRUE(result.error);
            EXPECT_EQ(result.error.code, make_error_code(Errc::crc_mismatch));
            EXPECT_EQ(result.error.offset, c.master_offset);
            EXPECT_EQ(result.error.element_id, c.master_id);
            // The handler never hears that the bad master ended.
            EXPECT_EQ(std::count_if(result.events.begin(), result.events.end(),
                                    [&](const std::string& event) {
                                        return event.rfind("end " + std::to_string(c.master_id) + " ", 0) ==
                                               0;
                                    }),
                      c.good_before);
        }
    }
}

TEST(EbmlReader, ACrc32ElsewhereGoesToTheHandlerAndOneOfAnotherSizeIsAnError) {
    // Not the first child: covers nothing the specification defines, so it is skipped like any element.
    Bytes later;
    auto cluster = open_master(ids::kCluster, later);
    write_uint(ids::kTimecode, 1, later);
    write_binary(ids::kCrc32, Bytes{1, 2, 3, 4}, later);
    close_master(cluster, later);
    const auto skipped = run(later);
    ASSERT_FALSE(skipped.error) << skipped.error.message();
    EXPECT_EQ(std::count_if(skipped.events.begin(), skipped.events.end(),
                            [](const std::string& event) { return event.rfind("start 191 ", 0) == 0; }),
              1);

    Bytes short_crc;
    cluster = open_master(ids::kCluster, short_crc);
    write_binary(ids::kCrc32, Bytes{1, 2, 3}, short_crc);
    write_uint(ids::kTimecode, 1, short_crc);
    close_master(cluster, short_crc);
    const auto failed = run(short_crc);
    ASSERT_TRUE(failed.error);
    EXPECT_EQ(failed.error.code, make_error_code(Errc::invalid_element_size));
    EXPECT_EQ(failed.error.element_id, ids::kCrc32);
}

}  // namespace
}  // namespace kinema::media::ebml
