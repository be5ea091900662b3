#include "kinema/media/timestamp.h"

#include <gtest/gtest.h>

namespace kinema::media {
namespace {

TEST(Timestamp, MillisecondsFloorForNegativeValues) {
    EXPECT_EQ(Timestamp::from_nanoseconds(-1).milliseconds(), -1);
    EXPECT_EQ(Timestamp::from_nanoseconds(1'999'999).milliseconds(), 1);
    EXPECT_EQ(Timestamp::from_milliseconds(-5).nanoseconds(), -5'000'000);
}

TEST(Timestamp, MkvTicksRoundTrip) {
    auto t = Timestamp::from_mkv_ticks(1'700'000'000'123, 1'000'000);
    EXPECT_EQ(t.milliseconds(), 1'700'000'000'123);
    EXPECT_EQ(t.to_mkv_ticks(1'000'000), 1'700'000'000'123);
    EXPECT_EQ(Timestamp::from_nanoseconds(2'500'000).to_mkv_ticks(1'000'000), 2);
    EXPECT_EQ(Timestamp::from_nanoseconds(-500'000).to_mkv_ticks(1'000'000), -1);
}

TEST(Timestamp, KvsSecondsFormatting) {
    EXPECT_EQ(Timestamp::from_milliseconds(1'700'000'000'123).to_kvs_seconds(), "1700000000.123");
    EXPECT_EQ(Timestamp::from_milliseconds(5).to_kvs_seconds(), "0.005");
    EXPECT_EQ(Timestamp::from_milliseconds(0).to_kvs_seconds(), "0.000");
}

TEST(Timestamp, KvsSecondsParsing) {
    struct Case {
        const char* text;
        std::optional<std::int64_t> ms;
    };
    const Case cases[] = {
        {"1700000000.123", 1'700'000'000'123},
        {"1700000000", 1'700'000'000'000},
        {"1700000000.1", 1'700'000'000'100},
        {"1.0005", 1'001},  // rounds half up
        {"1.0004999", 1'000},
        {".5", 500},
        {"", std::nullopt},
        {".", std::nullopt},
        {"-1.0", std::nullopt},
        {"1.2.3", std::nullopt},
        {"12a", std::nullopt},
        {"99999999999999999999", std::nullopt},
    };
    for (const auto& c : cases) {
        auto t = Timestamp::parse_kvs_seconds(c.text);
        ASSERT_EQ(t.has_value(), c.ms.has_value()) << c.text;
        if (t) {
            EXPECT_EQ(t->milliseconds(), *c.ms) << c.text;
        }
    }
}

TEST(Timestamp, EpochSecondsFromJsonNumber) {
    EXPECT_EQ(Timestamp::from_epoch_seconds(1700000000.123)->milliseconds(), 1'700'000'000'123);
    EXPECT_FALSE(Timestamp::from_epoch_seconds(-1.0));
    EXPECT_FALSE(Timestamp::from_epoch_seconds(std::numeric_limits<double>::quiet_NaN()));
}

TEST(Timestamp, ArithmeticWithDurations) {
    auto t = Timestamp::from_milliseconds(1000) + std::chrono::milliseconds(500);
    EXPECT_EQ(t.milliseconds(), 1500);
    EXPECT_EQ(t - Timestamp::from_milliseconds(1000), std::chrono::milliseconds(500));
    EXPECT_LT(Timestamp::from_milliseconds(1), t);
}

}  // namespace
}  // namespace kinema::media
