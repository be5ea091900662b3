// The in-memory time index of one stream: index entries in fragment-number order. Entries loaded at open
// stay in the page cache: they are read through read-only mappings of the segments' .idx files (same
// 64-byte format), so opening a million-fragment stream copies nothing; entries committed afterwards are
// kept in ordinary vectors. Lookups are binary searches. When a stream's timestamps ever go backwards
// (a producer clock reset between sessions), prefix maxima are kept so "first fragment at or after T" stays
// a binary search. Not synchronised: the owning StreamLog locks around it.
#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <vector>

#include "record.h"

namespace kinema::storage {

class TimeIndex {
public:
    std::size_t size() const { return size_; }
    bool empty() const { return size_ == 0; }
    IndexEntry operator[](std::size_t i) const;
    IndexEntry front() const { return (*this)[0]; }
    IndexEntry back() const { return (*this)[size_ - 1]; }

    // Entries must arrive in increasing number order (the caller guarantees it).
    void push_back(const IndexEntry& entry);
    // Appends `count` entries in the on-disk format at `bytes`, already validated by the caller; `owner`
    // keeps the memory (a file mapping) alive as long as the index refers to it.
    void append_encoded(std::shared_ptr<const void> owner, const std::uint8_t* bytes, std::size_t count);
    // Drops the first n entries (retention).
    void pop_front(std::size_t n);
    void clear();

    // Position of the entry with exactly this number, or size().
    std::size_t find(FragmentNumber number) const;
    // First position whose number is > number, or size().
    std::size_t upper_bound(FragmentNumber number) const;
    // First position (in number order) whose timestamp of `kind` is >= at_ns, or size(). O(log n).
    std::size_t first_at_or_after(TimestampKind kind, std::int64_t at_ns) const;
    // True when no entry at or after `from` has a timestamp of `kind` smaller than its predecessor's, so a
    // range scan may stop at the first timestamp past its end.
    bool ordered_from(TimestampKind kind, std::size_t from) const;

private:
    struct Run {
        std::shared_ptr<const void> owner;  // set for encoded (mapped) runs
        const std::uint8_t* encoded = nullptr;
        std::vector<IndexEntry> entries;  // used when encoded is null
        std::size_t first = 0;            // entries before it were popped
        std::size_t end = 0;              // one past the last entry
    };
    static IndexEntry entry_at(const Run& run, std::size_t i);
    // Records the order of a new entry at `position`; true if its timestamps went backwards.
    bool track_order(std::size_t position, std::int64_t producer_ns, std::int64_t server_ns);
    void rebuild_maxima();
    void push_maxima(std::int64_t producer_ns, std::int64_t server_ns);

    std::vector<Run> runs_;
    std::vector<std::size_t> starts_;  // global position of each run's first live entry
    std::size_t size_ = 0;
    std::int64_t last_producer_ = 0;
    std::int64_t last_server_ = 0;
    // Position after the last entry whose timestamp is below its predecessor's (0 if none).
    std::size_t last_disorder_producer_ = 0;
    std::size_t last_disorder_server_ = 0;
    bool disordered_ = false;                 // ever, among the live entries: then the maxima below exist
    std::vector<std::int64_t> max_producer_;  // max producer_ns of entries [0..i]
    std::vector<std::int64_t> max_server_;
};

}  // namespace kinema::storage
