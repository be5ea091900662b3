#include "mkv_block.h"

#include "ebml_reader.h"

namespace kinema::media::mkv {
namespace {

// Reads an unsigned vint (size encoding: marker bit stripped) at value[pos]; false when malformed or cut.
bool read_vint(std::span<const std::uint8_t> value, std::size_t& pos, std::uint64_t& out, int& length) {
    if (pos >= value.size()) return false;
    length = ebml::vint_length(value[pos]);
    if (length == 0 || static_cast<std::size_t>(length) > value.size() - pos) return false;
    std::uint64_t v = value[pos] & (0xFFu >> length);
    for (int i = 1; i < length; ++i)
        v = (v << 8) | value[pos + static_cast<std::size_t>(i)];
    pos += static_cast<std::size_t>(length);
    out = v;
    return true;
}

std::error_code lacing_error(std::string& detail, std::string text) {
    detail = std::move(text);
    return Errc::invalid_lacing;
}

}  // namespace

std::error_code parse_block(std::span<const std::uint8_t> value, Block& out, std::string& detail) {
    std::size_t pos = 0;
    std::uint64_t track = 0;
    int length = 0;
    if (!read_vint(value, pos, track, length)) {
        detail = "malformed track number";
        return Errc::invalid_block;
    }
    if (value.size() - pos < 3) {
        detail = "block of " + std::to_string(value.size()) + " bytes is shorter than its header";
        return Errc::invalid_block;
    }
    out.track = track;
    out.timecode = static_cast<std::int16_t>(static_cast<std::uint16_t>((value[pos] << 8) | value[pos + 1]));
    out.flags = value[pos + 2];
    pos += 3;

    const Lacing lacing = out.lacing();
    if (lacing == Lacing::none) {
        out.frame_count = 1;
        out.frame_sizes[0] = value.size() - pos;
        out.frames = value.subspan(pos);
        return {};
    }
    if (pos >= value.size()) return lacing_error(detail, "laced block without a frame count");
    const std::size_t count = std::size_t{value[pos]} + 1;
    ++pos;
    // Sizes of all frames but the last are coded; the last one takes what remains.
    std::uint64_t total = 0;
    switch (lacing) {
        case Lacing::xiph:
            for (std::size_t i = 0; i + 1 < count; ++i) {
                std::uint64_t size = 0;
                std::uint8_t b = 0;
                do {
                    if (pos >= value.size())
                        return lacing_error(detail, "Xiph lace sizes run past the block");
                    b = value[pos++];
                    size += b;
                } while (b == 0xFF);
                out.frame_sizes[i] = size;
                total += size;
            }
            break;
        case Lacing::ebml: {
            std::uint64_t previous = 0;
            for (std::size_t i = 0; i + 1 < count; ++i) {
                std::uint64_t raw = 0;
                if (!read_vint(value, pos, raw, length)) {
                    return lacing_error(detail, "malformed EBML lace size of frame " + std::to_string(i));
                }
                std::uint64_t size = raw;
                if (i == 0) {
                    if (raw == (1ull << (7 * length)) - 1) {
                        return lacing_error(detail, "reserved EBML lace size of frame 0");
                    }
                } else {
                    // A signed difference to the previous size, biased by 2^(7n-1) - 1.
                    const auto bias = static_cast<std::int64_t>((1ull << (7 * length - 1)) - 1);
                    const std::int64_t signed_size =
                        static_cast<std::int64_t>(previous) + (static_cast<std::int64_t>(raw) - bias);
                    if (signed_size < 0) {
                        return lacing_error(detail, "negative EBML lace size of frame " + std::to_string(i));
                    }
                    size = static_cast<std::uint64_t>(signed_size);
                }
                // Frame sizes are checked one by one so their sum cannot overflow.
                if (size > value.size()) {
                    return lacing_error(
                        detail, "EBML lace size of frame " + std::to_string(i) + " exceeds the block");
                }
                out.frame_sizes[i] = size;
                previous = size;
                total += size;
            }
            break;
        }
        case Lacing::fixed: {
            const std::uint64_t remaining = value.size() - pos;
            if (remaining % count != 0) {
                return lacing_error(detail, std::to_string(remaining) + " bytes do not split into " +
                                                std::to_string(count) + " equal frames");
            }
            for (std::size_t i = 0; i + 1 < count; ++i)
                out.frame_sizes[i] = remaining / count;
            total = remaining - remaining / count;
            break;
        }
        case Lacing::none:
            break;
    }
    const std::uint64_t remaining = value.size() - pos;
    if (total > remaining) {
        return lacing_error(detail, "lace sizes of " + std::to_string(total) + " bytes exceed the " +
                                        std::to_string(remaining) + " bytes of the block");
    }
    out.frame_count = count;
    out.frame_sizes[count - 1] = remaining - total;
    out.frames = value.subspan(pos);
    return {};
}

}  // namespace kinema::media::mkv
