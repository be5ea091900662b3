// The in-memory time index of one stream: index entries in fragment-number order, with prefix maxima of
// both timestamps so "first fragment at or after T" is a binary search even when a producer's clock went
// backwards between sessions. Not synchronised: the owning StreamLog locks around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "record.h"

namespace kinema::storage {

class TimeIndex {
public:
    std::size_t size() const { return entries_.size(); }
    bool empty() const { return entries_.empty(); }
    const IndexEntry& operator[](std::size_t i) const { return entries_[i]; }
    const IndexEntry& front() const { return entries_.front(); }
    const IndexEntry& back() const { return entries_.back(); }

    void reserve(std::size_t n);
    // Entries must arrive in increasing number order (the caller guarantees it).
    void push_back(const IndexEntry& entry);
    // Drops the first n entries (retention); O(size) because the prefix maxima are recomputed.
    void pop_front(std::size_t n);
    void clear();

    // Position of the entry with exactly this number, or size().
    std::size_t find(FragmentNumber number) const;
    // First position whose number is > number, or size().
    std::size_t upper_bound(FragmentNumber number) const;
    // First position (in number order) whose timestamp of `kind` is >= at_ns, or size(). O(log n).
    std::size_t first_at_or_after(TimestampKind kind, std::int64_t at_ns) const;
    // True when no entry at or after `from` has a timestamp of `kind` smaller than an earlier one, so a range
    // scan may stop at the first timestamp past its end.
    bool ordered_from(TimestampKind kind, std::size_t from) const;

private:
    std::vector<IndexEntry> entries_;
    std::vector<std::int64_t> max_producer_;  // max producer_ns of entries_[0..i]
    std::vector<std::int64_t> max_server_;
    // Position after the last entry whose timestamp is below its predecessor's (0 if none).
    std::size_t last_disorder_producer_ = 0;
    std::size_t last_disorder_server_ = 0;
};

}  // namespace kinema::storage
