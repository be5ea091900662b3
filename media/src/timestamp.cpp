#include "kinema/media/timestamp.h"

#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>

namespace kinema::media {

Timestamp Timestamp::now() {
    auto since_epoch = std::chrono::system_clock::now().time_since_epoch();
    return from_nanoseconds(std::chrono::duration_cast<std::chrono::nanoseconds>(since_epoch).count());
}

std::string Timestamp::to_kvs_seconds() const {
    std::int64_t ms = milliseconds();
    std::int64_t seconds = ms >= 0 ? ms / 1000 : -((-ms + 999) / 1000);
    std::int64_t millis = ms - seconds * 1000;
    char text[32];
    std::snprintf(text, sizeof text, "%lld.%03lld", static_cast<long long>(seconds),
                  static_cast<long long>(millis));
    return text;
}

std::optional<Timestamp> Timestamp::parse_kvs_seconds(std::string_view text) {
    // Hand-parsed: std::from_chars for double would bring in rounding we do not want; we keep the
    // integer seconds and the fraction exact and round the fraction to milliseconds.
    if (text.empty() || text.size() > 40) return std::nullopt;
    auto dot = text.find('.');
    std::string_view whole = text.substr(0, dot);
    std::string_view fraction = dot == std::string_view::npos ? std::string_view{} : text.substr(dot + 1);
    if (whole.empty() && fraction.empty()) return std::nullopt;
    std::int64_t seconds = 0;
    if (!whole.empty()) {
        auto [ptr, ec] = std::from_chars(whole.data(), whole.data() + whole.size(), seconds);
        if (ec != std::errc{} || ptr != whole.data() + whole.size() || seconds < 0) return std::nullopt;
    }
    // Seconds that would overflow int64 nanoseconds are rejected.
    if (seconds > std::numeric_limits<std::int64_t>::max() / 1'000'000'000 - 1) return std::nullopt;
    std::int64_t nanos = 0;
    std::int64_t scale = 100'000'000;
    bool round_up = false;
    for (std::size_t i = 0; i < fraction.size(); ++i) {
        char c = fraction[i];
        if (c < '0' || c > '9') return std::nullopt;
        if (scale > 0) {
            nanos += (c - '0') * scale;
            scale /= 10;
        }
    }
    // Round to the millisecond, half up.
    std::int64_t ms = nanos / 1'000'000;
    if (nanos % 1'000'000 >= 500'000) round_up = true;
    if (round_up) ++ms;
    return from_milliseconds(seconds * 1000 + ms);
}

std::optional<Timestamp> Timestamp::from_epoch_seconds(double seconds) {
    if (!std::isfinite(seconds) || seconds < 0 || seconds > 9.2e9) return std::nullopt;
    return from_milliseconds(static_cast<std::int64_t>(std::llround(seconds * 1000.0)));
}

}  // namespace kinema::media
