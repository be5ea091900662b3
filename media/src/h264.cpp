// H.264 framing: Annex-B and AVCC NAL unit splitting and conversion, RBSP extraction, avcC records
// (ISO/IEC 14496-15 5.3.3.1) and key-frame detection. SPS parsing is in h264_sps.cpp.
#include <algorithm>
#include <cstddef>

#include "kinema/media/error.h"
#include "kinema/media/h264.h"

namespace kinema::media::h264 {
namespace {

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

// Offset of the first 00 00 01 at or after `from`, or kNotFound.
std::size_t find_start_code(ByteSpan data, std::size_t from) {
    std::size_t i = from;
    while (i + 2 < data.size()) {
        // A byte above 1 in the third position rules out a start code ending here and at the next two
        // positions, so most of the payload is skipped three bytes at a time.
        std::uint8_t third = data[i + 2];
        if (third > 1) {
            i += 3;
        } else if (third == 1 && data[i] == 0 && data[i + 1] == 0) {
            return i;
        } else {
            ++i;
        }
    }
    return kNotFound;
}

// Calls visit(nal) for each non-empty NAL unit of an Annex-B buffer, in order, until it returns false.
template <typename Visit>
void for_each_annexb_nal(ByteSpan data, Visit&& visit) {
    std::size_t start = find_start_code(data, 0);
    while (start != kNotFound) {
        std::size_t begin = start + 3;
        std::size_t next = find_start_code(data, begin);
        std::size_t end = next == kNotFound ? data.size() : next;
        // Zero bytes before a start code are its leading zero (4-byte form) or trailing_zero_8bits.
        while (end > begin && data[end - 1] == 0)
            --end;
        if (end > begin && !visit(data.subspan(begin, end - begin))) return;
        start = next;
    }
}

bool valid_length_size(int length_size) {
    return length_size == 1 || length_size == 2 || length_size == 4;
}

std::uint32_t read_be(const std::uint8_t* p, int bytes) {
    std::uint32_t value = 0;
    for (int i = 0; i < bytes; ++i)
        value = (value << 8) | p[i];
    return value;
}

void write_be(std::uint64_t value, int bytes, Bytes& out) {
    for (int i = bytes - 1; i >= 0; --i)
        out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}

// Calls visit(nal) for each NAL unit of an AVCC buffer until it returns false. Checks every length before
// the NAL it frames is visited, so a caller that only reads sees a prefix of a malformed buffer.
template <typename Visit>
std::error_code for_each_avcc_nal(ByteSpan data, int length_size, Visit&& visit) {
    if (!valid_length_size(length_size)) return Errc::invalid_argument;
    const auto prefix = static_cast<std::size_t>(length_size);
    std::size_t pos = 0;
    while (pos < data.size()) {
        if (data.size() - pos < prefix) return Errc::invalid_nal;
        std::size_t length = read_be(data.data() + pos, length_size);
        pos += prefix;
        if (length == 0 || length > data.size() - pos) return Errc::invalid_nal;
        if (!visit(data.subspan(pos, length))) return {};
        pos += length;
    }
    return {};
}

}  // namespace

std::vector<ByteSpan> split_annexb(ByteSpan data) {
    std::vector<ByteSpan> nals;
    for_each_annexb_nal(data, [&](ByteSpan nal) {
        nals.push_back(nal);
        return true;
    });
    return nals;
}

std::error_code split_avcc(ByteSpan data, int length_size, std::vector<ByteSpan>& nals) {
    nals.clear();
    auto ec = for_each_avcc_nal(data, length_size, [&](ByteSpan nal) {
        nals.push_back(nal);
        return true;
    });
    if (ec) nals.clear();
    return ec;
}

std::error_code annexb_to_avcc(ByteSpan annexb, Bytes& out, int length_size) {
    if (!valid_length_size(length_size)) return Errc::invalid_argument;
    const std::uint64_t max_length = (std::uint64_t{1} << (8 * length_size)) - 1;
    // First pass: validate and size, so that on error nothing is appended and on success `out` grows once.
    std::size_t total = 0;
    bool too_long = false;
    for_each_annexb_nal(annexb, [&](ByteSpan nal) {
        too_long = nal.size() > max_length;
        total += static_cast<std::size_t>(length_size) + nal.size();
        return !too_long;
    });
    if (too_long) return Errc::invalid_nal;
    out.reserve(out.size() + total);
    for_each_annexb_nal(annexb, [&](ByteSpan nal) {
        write_be(nal.size(), length_size, out);
        out.insert(out.end(), nal.begin(), nal.end());
        return true;
    });
    return {};
}

std::error_code avcc_to_annexb(ByteSpan avcc, Bytes& out, int length_size) {
    std::size_t total = 0;
    auto ec = for_each_avcc_nal(avcc, length_size, [&](ByteSpan nal) {
        total += 4 + nal.size();
        return true;
    });
    if (ec) return ec;
    out.reserve(out.size() + total);
    static constexpr std::uint8_t kStartCode[4] = {0, 0, 0, 1};
    for_each_avcc_nal(avcc, length_size, [&](ByteSpan nal) {
        out.insert(out.end(), std::begin(kStartCode), std::end(kStartCode));
        out.insert(out.end(), nal.begin(), nal.end());
        return true;
    });
    return {};
}

bool looks_like_annexb(ByteSpan data) {
    if (data.size() >= 3 && data[0] == 0 && data[1] == 0 && data[2] == 1) return true;
    return data.size() >= 4 && data[0] == 0 && data[1] == 0 && data[2] == 0 && data[3] == 1;
}

Bytes to_rbsp(ByteSpan nal_payload) {
    Bytes rbsp;
    rbsp.reserve(nal_payload.size());
    int zeros = 0;
    for (std::uint8_t byte : nal_payload) {
        // 7.4.1: within a NAL unit, 00 00 03 only occurs as emulation prevention; the 03 is dropped.
        if (zeros >= 2 && byte == 3) {
            zeros = 0;
            continue;
        }
        zeros = byte == 0 ? zeros + 1 : 0;
        rbsp.push_back(byte);
    }
    return rbsp;
}

std::error_code build_avcc(std::span<const Bytes> sps, std::span<const Bytes> pps, Bytes& out,
                           int length_size) {
    if (!valid_length_size(length_size)) return Errc::invalid_argument;
    if (sps.empty() || pps.empty()) return Errc::missing_parameter_sets;
    // The record counts SPSs in 5 bits and PPSs in 8, and frames each with a 16-bit length.
    if (sps.size() > 31 || pps.size() > 255) return Errc::invalid_argument;
    for (const auto& s : sps) {
        if (s.size() < 4 || nal_type(s) != NalType::sps) return Errc::invalid_sps;
        if (s.size() > 0xFFFF) return Errc::invalid_nal;
    }
    for (const auto& p : pps) {
        if (p.empty() || nal_type(p) != NalType::pps || p.size() > 0xFFFF) return Errc::invalid_nal;
    }
    const Bytes& first = sps.front();
    // profile, constraints and level are the first RBSP bytes: 00 00 03 can occur in them (profile 0).
    const Bytes head = to_rbsp(ByteSpan(first).subspan(1, std::min<std::size_t>(first.size() - 1, 4)));
    if (head.size() < 3) return Errc::invalid_sps;
    const std::uint8_t profile = head[0];
    // ISO/IEC 14496-15 (since its 2010s editions, and FFmpeg) adds chroma format and bit depths for every
    // profile except Baseline, Main and Extended; those values need the parsed SPS.
    const bool extended = profile != 66 && profile != 77 && profile != 88;
    Sps parsed;
    if (extended) {
        if (auto ec = parse_sps(first, parsed)) return ec;
    }

    out.push_back(1);  // configurationVersion
    out.push_back(profile);
    out.push_back(head[1]);  // profile_compatibility: the constraint flags
    out.push_back(head[2]);  // level
    out.push_back(static_cast<std::uint8_t>(0xFC | (length_size - 1)));
    out.push_back(static_cast<std::uint8_t>(0xE0 | sps.size()));
    for (const auto& s : sps) {
        write_be(s.size(), 2, out);
        out.insert(out.end(), s.begin(), s.end());
    }
    out.push_back(static_cast<std::uint8_t>(pps.size()));
    for (const auto& p : pps) {
        write_be(p.size(), 2, out);
        out.insert(out.end(), p.begin(), p.end());
    }
    if (extended) {
        out.push_back(static_cast<std::uint8_t>(0xFC | parsed.chroma_format_idc));
        out.push_back(static_cast<std::uint8_t>(0xF8 | (parsed.bit_depth_luma - 8)));
        out.push_back(static_cast<std::uint8_t>(0xF8 | (parsed.bit_depth_chroma - 8)));
        out.push_back(0);  // numOfSequenceParameterSetExt
    }
    return {};
}

std::error_code parse_avcc(ByteSpan data, AvcConfig& config) {
    if (data.size() < 7 || data[0] != 1) return Errc::invalid_avcc;
    AvcConfig parsed;
    parsed.profile_idc = data[1];
    parsed.profile_compatibility = data[2];
    parsed.level_idc = data[3];
    // The reserved bits are not checked: some muxers write them as zeros.
    parsed.length_size = (data[4] & 0x03) + 1;
    if (parsed.length_size == 3) return Errc::invalid_avcc;

    std::size_t pos = 5;
    auto read_sets = [&](std::size_t count, std::vector<Bytes>& sets) -> bool {
        for (std::size_t i = 0; i < count; ++i) {
            if (data.size() - pos < 2) return false;
            std::size_t length = read_be(data.data() + pos, 2);
            pos += 2;
            if (length == 0 || length > data.size() - pos) return false;
            sets.emplace_back(data.begin() + static_cast<std::ptrdiff_t>(pos),
                              data.begin() + static_cast<std::ptrdiff_t>(pos + length));
            pos += length;
        }
        return true;
    };
    std::size_t sps_count = data[pos++] & 0x1F;
    if (!read_sets(sps_count, parsed.sps)) return Errc::invalid_avcc;
    if (pos >= data.size()) return Errc::invalid_avcc;
    std::size_t pps_count = data[pos++];
    if (!read_sets(pps_count, parsed.pps)) return Errc::invalid_avcc;
    // Whatever follows (the high-profile chroma/bit-depth extension, SPS extensions) is not needed.
    config = std::move(parsed);
    return {};
}

bool is_key_frame(ByteSpan access_unit, int length_size) {
    bool key = false;
    auto visit = [&](ByteSpan nal) {
        key = nal_type(nal) == NalType::idr;
        return !key;
    };
    if (length_size == 0) {
        for_each_annexb_nal(access_unit, visit);
    } else {
        // A malformed tail does not unmake an IDR slice seen before it.
        (void)for_each_avcc_nal(access_unit, length_size, visit);
    }
    return key;
}

}  // namespace kinema::media::h264
