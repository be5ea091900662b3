#include "time_index.h"

#include <algorithm>
#include <cstring>

namespace kinema::storage {

IndexEntry TimeIndex::entry_at(const Run& run, std::size_t i) {
    if (!run.encoded) return run.entries[i];
    IndexEntry e;
    // Validated when loaded; decoding again only unpacks the fields (the CRC is not re-checked).
    const std::uint8_t* p = run.encoded + i * kIndexEntrySize;
    std::memcpy(&e.number, p, 8);
    std::memcpy(&e.producer_ns, p + 8, 8);
    std::memcpy(&e.server_ns, p + 16, 8);
    std::memcpy(&e.duration_ns, p + 24, 8);
    std::memcpy(&e.offset, p + 32, 8);
    std::memcpy(&e.record_len, p + 40, 4);
    std::memcpy(&e.size, p + 44, 4);
    std::memcpy(&e.checksum, p + 48, 4);
    std::memcpy(&e.header_id, p + 52, 4);
    std::memcpy(&e.frame_count, p + 56, 4);
    return e;
}

IndexEntry TimeIndex::operator[](std::size_t i) const {
    const auto it = std::upper_bound(starts_.begin(), starts_.end(), i) - 1;
    const auto r = static_cast<std::size_t>(it - starts_.begin());
    const Run& run = runs_[r];
    return entry_at(run, run.first + (i - *it));
}

bool TimeIndex::track_order(std::size_t position, std::int64_t producer_ns, std::int64_t server_ns) {
    bool disorder = false;
    if (position > 0 && producer_ns < last_producer_) {
        last_disorder_producer_ = position;
        disorder = true;
    }
    if (position > 0 && server_ns < last_server_) {
        last_disorder_server_ = position;
        disorder = true;
    }
    last_producer_ = producer_ns;
    last_server_ = server_ns;
    return disorder;
}

void TimeIndex::push_maxima(std::int64_t producer_ns, std::int64_t server_ns) {
    max_producer_.push_back(max_producer_.empty() ? producer_ns
                                                  : std::max(max_producer_.back(), producer_ns));
    max_server_.push_back(max_server_.empty() ? server_ns : std::max(max_server_.back(), server_ns));
}

void TimeIndex::push_back(const IndexEntry& entry) {
    const bool disorder = track_order(size_, entry.producer_ns, entry.server_ns);
    if (runs_.empty() || runs_.back().encoded) {
        runs_.push_back(Run{});
        starts_.push_back(size_);
    }
    Run& run = runs_.back();
    run.entries.push_back(entry);
    run.end = run.entries.size();
    ++size_;
    if (disordered_) {
        push_maxima(entry.producer_ns, entry.server_ns);
    } else if (disorder) {
        disordered_ = true;
        rebuild_maxima();
    }
}

void TimeIndex::append_encoded(std::shared_ptr<const void> owner, const std::uint8_t* bytes,
                               std::size_t count) {
    if (count == 0) return;
    const auto timestamps = [bytes](std::size_t i, std::int64_t& producer_ns, std::int64_t& server_ns) {
        std::memcpy(&producer_ns, bytes + i * kIndexEntrySize + 8, 8);
        std::memcpy(&server_ns, bytes + i * kIndexEntrySize + 16, 8);
    };
    const std::size_t base = size_;
    bool disorder = false;
    for (std::size_t i = 0; i < count; ++i) {
        std::int64_t producer_ns = 0;
        std::int64_t server_ns = 0;
        timestamps(i, producer_ns, server_ns);
        disorder = track_order(base + i, producer_ns, server_ns) || disorder;
    }
    Run run;
    run.owner = std::move(owner);
    run.encoded = bytes;
    run.end = count;
    runs_.push_back(std::move(run));
    starts_.push_back(base);
    size_ += count;
    if (disordered_) {
        for (std::size_t i = 0; i < count; ++i) {
            std::int64_t producer_ns = 0;
            std::int64_t server_ns = 0;
            timestamps(i, producer_ns, server_ns);
            push_maxima(producer_ns, server_ns);
        }
    } else if (disorder) {
        disordered_ = true;
        rebuild_maxima();
    }
}

void TimeIndex::rebuild_maxima() {
    max_producer_.clear();
    max_server_.clear();
    if (!disordered_) return;
    max_producer_.reserve(size_);
    max_server_.reserve(size_);
    for (const auto& run : runs_) {
        for (std::size_t i = run.first; i < run.end; ++i) {
            const auto e = entry_at(run, i);
            push_maxima(e.producer_ns, e.server_ns);
        }
    }
}

void TimeIndex::pop_front(std::size_t n) {
    n = std::min(n, size_);
    if (n == size_) {
        clear();
        return;
    }
    std::size_t left = n;
    std::size_t drop_runs = 0;
    for (auto& run : runs_) {
        const std::size_t live = run.end - run.first;
        if (left >= live) {
            left -= live;
            ++drop_runs;
            continue;
        }
        run.first += left;
        // Give the memory of popped entries back once they are the larger part of a long-lived run.
        if (!run.encoded && run.first >= 1024 && run.first * 2 >= run.entries.size()) {
            run.entries.erase(run.entries.begin(),
                              run.entries.begin() + static_cast<std::ptrdiff_t>(run.first));
            run.end = run.entries.size();
            run.first = 0;
        }
        break;
    }
    runs_.erase(runs_.begin(), runs_.begin() + static_cast<std::ptrdiff_t>(drop_runs));
    size_ -= n;
    starts_.clear();
    std::size_t position = 0;
    for (const auto& run : runs_) {
        starts_.push_back(position);
        position += run.end - run.first;
    }
    last_disorder_producer_ = last_disorder_producer_ > n ? last_disorder_producer_ - n : 0;
    last_disorder_server_ = last_disorder_server_ > n ? last_disorder_server_ - n : 0;
    disordered_ = last_disorder_producer_ > 0 || last_disorder_server_ > 0;
    rebuild_maxima();
}

void TimeIndex::clear() {
    runs_.clear();
    starts_.clear();
    size_ = 0;
    last_disorder_producer_ = 0;
    last_disorder_server_ = 0;
    disordered_ = false;
    max_producer_.clear();
    max_server_.clear();
}

std::size_t TimeIndex::find(FragmentNumber number) const {
    const std::size_t i = upper_bound(number);
    return (i > 0 && (*this)[i - 1].number == number) ? i - 1 : size_;
}

std::size_t TimeIndex::upper_bound(FragmentNumber number) const {
    std::size_t lo = 0;
    std::size_t hi = size_;
    while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if ((*this)[mid].number <= number) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

std::size_t TimeIndex::first_at_or_after(TimestampKind kind, std::int64_t at_ns) const {
    if (disordered_) {
        // The first i whose prefix maximum reaches at_ns is exactly the first entry that does.
        const auto& maxima = kind == TimestampKind::server ? max_server_ : max_producer_;
        return static_cast<std::size_t>(std::lower_bound(maxima.begin(), maxima.end(), at_ns) -
                                        maxima.begin());
    }
    std::size_t lo = 0;
    std::size_t hi = size_;
    while (lo < hi) {
        const std::size_t mid = lo + (hi - lo) / 2;
        if ((*this)[mid].timestamp(kind) < at_ns) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    return lo;
}

bool TimeIndex::ordered_from(TimestampKind kind, std::size_t from) const {
    const std::size_t disorder =
        kind == TimestampKind::server ? last_disorder_server_ : last_disorder_producer_;
    return disorder <= from;
}

}  // namespace kinema::storage
