#include "time_index.h"

#include <algorithm>

namespace kinema::storage {

void TimeIndex::reserve(std::size_t n) {
    entries_.reserve(n);
    max_producer_.reserve(n);
    max_server_.reserve(n);
}

void TimeIndex::push_back(const IndexEntry& entry) {
    if (entries_.empty()) {
        max_producer_.push_back(entry.producer_ns);
        max_server_.push_back(entry.server_ns);
    } else {
        if (entry.producer_ns < entries_.back().producer_ns) last_disorder_producer_ = entries_.size();
        if (entry.server_ns < entries_.back().server_ns) last_disorder_server_ = entries_.size();
        max_producer_.push_back(std::max(max_producer_.back(), entry.producer_ns));
        max_server_.push_back(std::max(max_server_.back(), entry.server_ns));
    }
    entries_.push_back(entry);
}

void TimeIndex::pop_front(std::size_t n) {
    n = std::min(n, entries_.size());
    std::vector<IndexEntry> rest(entries_.begin() + static_cast<std::ptrdiff_t>(n), entries_.end());
    clear();
    reserve(rest.size());
    for (const auto& e : rest)
        push_back(e);
}

void TimeIndex::clear() {
    entries_.clear();
    max_producer_.clear();
    max_server_.clear();
    last_disorder_producer_ = 0;
    last_disorder_server_ = 0;
}

std::size_t TimeIndex::find(FragmentNumber number) const {
    auto it = std::lower_bound(entries_.begin(), entries_.end(), number,
                               [](const IndexEntry& e, FragmentNumber n) { return e.number < n; });
    if (it == entries_.end() || it->number != number) return entries_.size();
    return static_cast<std::size_t>(it - entries_.begin());
}

std::size_t TimeIndex::upper_bound(FragmentNumber number) const {
    auto it = std::upper_bound(entries_.begin(), entries_.end(), number,
                               [](FragmentNumber n, const IndexEntry& e) { return n < e.number; });
    return static_cast<std::size_t>(it - entries_.begin());
}

std::size_t TimeIndex::first_at_or_after(TimestampKind kind, std::int64_t at_ns) const {
    // The first i whose prefix maximum reaches at_ns is exactly the first entry that does.
    const auto& maxima = kind == TimestampKind::server ? max_server_ : max_producer_;
    return static_cast<std::size_t>(std::lower_bound(maxima.begin(), maxima.end(), at_ns) - maxima.begin());
}

bool TimeIndex::ordered_from(TimestampKind kind, std::size_t from) const {
    const std::size_t disorder =
        kind == TimestampKind::server ? last_disorder_server_ : last_disorder_producer_;
    return disorder <= from;
}

}  // namespace kinema::storage
