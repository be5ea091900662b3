// A rate over roughly the last second: the amount of the last complete one-second window, or of the
// current window while the first one is still open.
#pragma once

#include <chrono>

namespace kinema::producer {

class RateMeter {
public:
    using Clock = std::chrono::steady_clock;

    void add(double amount, Clock::time_point now) {
        roll(now);
        window_amount_ += amount;
    }

    double rate(Clock::time_point now) {
        roll(now);
        if (have_rate_) return last_rate_;
        const double elapsed = std::chrono::duration<double>(now - window_start_).count();
        return elapsed > 0 ? window_amount_ / elapsed : 0.0;
    }

private:
    void roll(Clock::time_point now) {
        if (!started_) {
            started_ = true;
            window_start_ = now;
            return;
        }
        const double elapsed = std::chrono::duration<double>(now - window_start_).count();
        if (elapsed < 1.0) return;
        // A window that ended long ago (nothing happened since) says the rate is 0 now.
        last_rate_ = elapsed < 2.0 ? window_amount_ / elapsed : 0.0;
        have_rate_ = true;
        window_start_ = now;
        window_amount_ = 0;
    }

    bool started_ = false;
    bool have_rate_ = false;
    Clock::time_point window_start_;
    double window_amount_ = 0;
    double last_rate_ = 0;
};

}  // namespace kinema::producer
