// A bounds-checked MSB-first bit reader over an H.264 RBSP, with the Exp-Golomb codes of H.264 9.1.
//
// Failure is sticky: once a read runs past the end or a code is out of range, every later read returns 0
// and ok() stays false. Parsers read a whole syntax structure and check ok() at the points where a value
// steers control flow or sizes a loop, so a malformed input costs at most one pass over its bytes.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

namespace kinema::media::h264 {

class BitReader {
public:
    explicit BitReader(std::span<const std::uint8_t> data) noexcept : data_(data) {}

    bool ok() const noexcept { return ok_; }
    std::size_t bits_left() const noexcept { return ok_ ? data_.size() * 8 - pos_ : 0; }

    std::uint32_t bit() noexcept {
        if (!ok_ || pos_ >= data_.size() * 8) return fail();
        std::uint32_t value = (data_[pos_ >> 3] >> (7 - (pos_ & 7))) & 1u;
        ++pos_;
        return value;
    }
    bool flag() noexcept { return bit() != 0; }

    // u(n), n in 0..32.
    std::uint32_t bits(int n) noexcept {
        if (n < 0 || n > 32 || bits_left() < static_cast<std::size_t>(n)) return fail();
        std::uint64_t value = 0;
        for (int i = 0; i < n; ++i)
            value = (value << 1) | bit();
        return static_cast<std::uint32_t>(value);
    }

    void skip(std::size_t n) noexcept {
        if (bits_left() < n) {
            fail();
            return;
        }
        pos_ += n;
    }

    // ue(v). A code with 32 or more leading zeros would not fit 32 bits: the input is malformed.
    std::uint32_t ue() noexcept {
        int leading_zeros = 0;
        while (ok_ && bit() == 0) {
            if (++leading_zeros > 31) return fail();
        }
        if (!ok_) return 0;
        std::uint64_t value = (std::uint64_t{1} << leading_zeros) - 1 + bits(leading_zeros);
        return ok_ ? static_cast<std::uint32_t>(value) : 0;
    }

    // ue(v) that must lie in [0, max]; larger values fail the reader.
    std::uint32_t ue_max(std::uint32_t max) noexcept {
        std::uint32_t value = ue();
        return value <= max ? value : fail();
    }

    // se(v): 0, 1, -1, 2, -2, ... (k odd -> (k+1)/2, k even -> -k/2).
    std::int64_t se() noexcept {
        std::uint64_t k = ue();
        return (k & 1) ? static_cast<std::int64_t>((k + 1) / 2) : -static_cast<std::int64_t>(k / 2);
    }

    // se(v) that must lie in [min, max].
    std::int64_t se_range(std::int64_t min, std::int64_t max) noexcept {
        std::int64_t value = se();
        if (value < min || value > max) return fail();
        return value;
    }

private:
    std::uint32_t fail() noexcept {
        ok_ = false;
        return 0;
    }

    std::span<const std::uint8_t> data_;
    std::size_t pos_ = 0;  // in bits
    bool ok_ = true;
};

}  // namespace kinema::media::h264
