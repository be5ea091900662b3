// Time in Kinema: a strong int64-nanosecond timestamp, with the conversions the wire formats need.
//
// - MKV stores times as integer ticks of TimecodeScale nanoseconds (1 ms in KVS streams).
// - KVS APIs carry epoch seconds with millisecond precision, as a JSON number (1700000000.123) or a
//   header string ("1700000000.123").
// Doubles appear only at that API boundary, never in storage.
#pragma once

#include <chrono>
#include <compare>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace kinema::media {

using Duration = std::chrono::nanoseconds;

class Timestamp {
public:
    constexpr Timestamp() = default;

    static constexpr Timestamp from_nanoseconds(std::int64_t ns) { return Timestamp(ns); }
    static constexpr Timestamp from_milliseconds(std::int64_t ms) { return Timestamp(ms * 1'000'000); }
    // Wall-clock now (system_clock), the server timestamp of KVS.
    static Timestamp now();

    constexpr std::int64_t nanoseconds() const { return ns_; }
    // Floor division: -1 ns is -1 ms, so ordering is preserved.
    constexpr std::int64_t milliseconds() const { return floor_div(ns_, 1'000'000); }

    // MKV ticks of `timecode_scale_ns` nanoseconds each (floor for values between ticks).
    static constexpr Timestamp from_mkv_ticks(std::int64_t ticks, std::uint64_t timecode_scale_ns) {
        return Timestamp(ticks * static_cast<std::int64_t>(timecode_scale_ns));
    }
    constexpr std::int64_t to_mkv_ticks(std::uint64_t timecode_scale_ns) const {
        return floor_div(ns_, static_cast<std::int64_t>(timecode_scale_ns));
    }

    // KVS epoch seconds. to_kvs_seconds() prints "1700000000.123" (always three decimals);
    // parse_kvs_seconds() accepts what the AWS SDKs send: "1700000000", "1700000000.1", "1700000000.123",
    // also with more than three decimals (rounded to the millisecond) and a leading '-' is rejected.
    std::string to_kvs_seconds() const;
    static std::optional<Timestamp> parse_kvs_seconds(std::string_view text);
    // From a JSON number of epoch seconds, rounded to the nearest millisecond as KVS does.
    static std::optional<Timestamp> from_epoch_seconds(double seconds);
    double to_epoch_seconds() const { return static_cast<double>(milliseconds()) / 1000.0; }

    constexpr auto operator<=>(const Timestamp&) const = default;
    constexpr Timestamp operator+(Duration d) const { return Timestamp(ns_ + d.count()); }
    constexpr Timestamp operator-(Duration d) const { return Timestamp(ns_ - d.count()); }
    constexpr Duration operator-(Timestamp other) const { return Duration(ns_ - other.ns_); }
    constexpr Timestamp& operator+=(Duration d) {
        ns_ += d.count();
        return *this;
    }

private:
    constexpr explicit Timestamp(std::int64_t ns) : ns_(ns) {}
    static constexpr std::int64_t floor_div(std::int64_t a, std::int64_t b) {
        std::int64_t q = a / b;
        return (a % b != 0 && ((a < 0) != (b < 0))) ? q - 1 : q;
    }

    std::int64_t ns_ = 0;
};

}  // namespace kinema::media
