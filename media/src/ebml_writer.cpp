#include "kinema/media/ebml_writer.h"

#include <bit>
#include <cstring>

namespace kinema::media::ebml {

int size_length(std::uint64_t value) noexcept {
    // A vint of n bytes holds 7n value bits; the all-ones value of each width is reserved.
    for (int n = 1; n < 8; ++n) {
        if (value < (1ull << (7 * n)) - 1) return n;
    }
    return 8;
}

void write_id(std::uint32_t id, Bytes& out) {
    // Ids keep their marker bits, so the id's own byte length is its width.
    int bytes = id > 0xFFFFFF ? 4 : id > 0xFFFF ? 3 : id > 0xFF ? 2 : 1;
    for (int i = bytes - 1; i >= 0; --i)
        out.push_back(static_cast<std::uint8_t>(id >> (8 * i)));
}

void write_size(std::uint64_t value, Bytes& out, int length) {
    if (length == 0) length = size_length(value);
    std::uint64_t coded = value | (1ull << (7 * length));
    for (int i = length - 1; i >= 0; --i)
        out.push_back(static_cast<std::uint8_t>(coded >> (8 * i)));
}

void write_unknown_size(Bytes& out) {
    static constexpr std::uint8_t kMarker[8] = {0x01, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF};
    out.insert(out.end(), std::begin(kMarker), std::end(kMarker));
}

namespace {
void write_be(std::uint64_t value, int bytes, Bytes& out) {
    for (int i = bytes - 1; i >= 0; --i)
        out.push_back(static_cast<std::uint8_t>(value >> (8 * i)));
}
}  // namespace

void write_uint(std::uint32_t id, std::uint64_t value, Bytes& out) {
    int bytes = 1;
    while (bytes < 8 && (value >> (8 * bytes)) != 0)
        ++bytes;
    write_id(id, out);
    write_size(static_cast<std::uint64_t>(bytes), out);
    write_be(value, bytes, out);
}

void write_int(std::uint32_t id, std::int64_t value, Bytes& out) {
    // Shortest two's-complement form that sign-extends back to `value`.
    int bytes = 1;
    while (bytes < 8) {
        std::int64_t lo = -(std::int64_t{1} << (8 * bytes - 1));
        std::int64_t hi = (std::int64_t{1} << (8 * bytes - 1)) - 1;
        if (value >= lo && value <= hi) break;
        ++bytes;
    }
    write_id(id, out);
    write_size(static_cast<std::uint64_t>(bytes), out);
    write_be(static_cast<std::uint64_t>(value), bytes, out);
}

void write_float(std::uint32_t id, double value, Bytes& out) {
    write_id(id, out);
    write_size(8, out);
    write_be(std::bit_cast<std::uint64_t>(value), 8, out);
}

void write_string(std::uint32_t id, std::string_view value, Bytes& out) {
    write_id(id, out);
    write_size(value.size(), out);
    out.insert(out.end(), value.begin(), value.end());
}

void write_binary(std::uint32_t id, std::span<const std::uint8_t> value, Bytes& out) {
    write_id(id, out);
    write_size(value.size(), out);
    out.insert(out.end(), value.begin(), value.end());
}

void write_date(std::uint32_t id, std::int64_t ns_since_2001, Bytes& out) {
    write_id(id, out);
    write_size(8, out);
    write_be(static_cast<std::uint64_t>(ns_since_2001), 8, out);
}

OpenMaster open_master(std::uint32_t id, Bytes& out) {
    write_id(id, out);
    OpenMaster m{out.size()};
    out.insert(out.end(), 8, 0);
    return m;
}

void close_master(OpenMaster master, Bytes& out) {
    std::uint64_t size = out.size() - master.size_pos - 8;
    std::uint64_t coded = size | (1ull << 56);
    for (int i = 0; i < 8; ++i)
        out[master.size_pos + i] = static_cast<std::uint8_t>(coded >> (8 * (7 - i)));
}

void open_unknown_size_master(std::uint32_t id, Bytes& out) {
    write_id(id, out);
    write_unknown_size(out);
}

}  // namespace kinema::media::ebml
