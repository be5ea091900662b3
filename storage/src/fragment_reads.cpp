// StreamLog's reads. Each looks up the disk index and the memory window under the state lock, copies the
// entry out, and reads the record (if needed) without holding any lock.
#include <algorithm>

#include "fragment_log.h"
#include "kinema/storage/error.h"

namespace kinema::storage {
namespace {

// A range scan examines at most this many index entries per call, so a page over a stream whose
// timestamps are out of order cannot stall the caller; it returns a token to continue instead.
constexpr std::size_t kMaxScanPerPage = 100'000;

struct ScanResult {
    std::vector<IndexEntry> matches;
    std::optional<FragmentNumber> resume;  // set when the scan stopped at its cap
};

ScanResult scan(const TimeIndex& index, TimestampKind kind, std::int64_t start_ns, std::int64_t end_ns,
                FragmentNumber from, std::size_t want) {
    ScanResult result;
    std::size_t i =
        std::max(index.first_at_or_after(kind, start_ns), from == 0 ? 0 : index.upper_bound(from - 1));
    const bool ordered = index.ordered_from(kind, i);
    for (std::size_t scanned = 0; i < index.size() && result.matches.size() < want; ++i, ++scanned) {
        if (scanned == kMaxScanPerPage) {
            result.resume = index[i].number;
            break;
        }
        const IndexEntry entry = index[i];
        const auto ts = entry.timestamp(kind);
        if (ts > end_ns) {
            if (ordered) break;
            continue;
        }
        if (ts >= start_ns) result.matches.push_back(entry);
    }
    return result;
}

}  // namespace

std::shared_ptr<Segment> StreamLog::segment_for(FragmentNumber number) const {
    auto it = std::upper_bound(
        segments_.begin(), segments_.end(), number,
        [](FragmentNumber n, const std::shared_ptr<Segment>& s) { return n < s->first_number; });
    if (it == segments_.begin()) return nullptr;
    return *(it - 1);
}

std::error_code StreamLog::get_info(FragmentNumber number, FragmentInfo& info) const {
    std::lock_guard lock(state_mutex_);
    if (auto i = index_.find(number); i < index_.size()) {
        info = index_[i].info();
        return {};
    }
    if (auto i = window_index_.find(number); i < window_index_.size()) {
        info = window_index_[i].info();
        return {};
    }
    return Errc::fragment_not_found;
}

std::error_code StreamLog::read(FragmentNumber number, Fragment& fragment) const {
    IndexEntry entry;
    std::shared_ptr<Segment> segment;
    {
        std::lock_guard lock(state_mutex_);
        if (auto i = index_.find(number); i < index_.size()) {
            entry = index_[i];
            segment = segment_for(number);
        } else if (auto w = window_index_.find(number); w < window_index_.size()) {
            fragment.info = window_index_[w].info();
            fragment.metadata = *window_[w].metadata;
            fragment.bytes = window_[w].bytes;
            return {};
        } else {
            return Errc::fragment_not_found;
        }
    }
    if (!segment) return Errc::fragment_not_found;
    auto bytes = std::make_shared<std::vector<std::uint8_t>>();
    if (auto ec = segment->read_record(entry, options_.max_fragment_bytes, fragment.metadata, *bytes))
        return ec;
    fragment.info = entry.info();
    fragment.bytes = std::move(bytes);
    return {};
}

std::error_code StreamLog::get_header(HeaderId id,
                                      std::shared_ptr<const std::vector<std::uint8_t>>& bytes) const {
    std::lock_guard lock(state_mutex_);
    auto it = headers_.find(id);
    if (it == headers_.end()) return Errc::fragment_not_found;
    bytes = it->second;
    return {};
}

std::error_code StreamLog::find_at_or_after(TimestampKind kind, std::int64_t at_ns,
                                            FragmentInfo& info) const {
    std::lock_guard lock(state_mutex_);
    std::optional<IndexEntry> best;
    if (auto i = index_.first_at_or_after(kind, at_ns); i < index_.size()) best = index_[i];
    if (auto w = window_index_.first_at_or_after(kind, at_ns); w < window_index_.size()) {
        if (!best || window_index_[w].number < best->number) best = window_index_[w];
    }
    if (!best) return Errc::fragment_not_found;
    info = best->info();
    return {};
}

std::error_code StreamLog::list(TimestampKind kind, std::int64_t start_ns, std::int64_t end_ns,
                                std::size_t max_results, std::string_view token, FragmentPage& page) const {
    if (max_results == 0 || start_ns > end_ns) return Errc::invalid_argument;
    FragmentNumber from = 0;
    if (!token.empty()) {
        auto parsed = parse_fragment_number(token);
        if (!parsed || token.size() != 20) return Errc::invalid_argument;
        from = *parsed;
    }
    ScanResult disk;
    ScanResult memory;
    {
        std::lock_guard lock(state_mutex_);
        disk = scan(index_, kind, start_ns, end_ns, from, max_results + 1);
        memory = scan(window_index_, kind, start_ns, end_ns, from, max_results + 1);
    }
    std::vector<IndexEntry> merged;
    merged.reserve(disk.matches.size() + memory.matches.size());
    std::merge(disk.matches.begin(), disk.matches.end(), memory.matches.begin(), memory.matches.end(),
               std::back_inserter(merged),
               [](const IndexEntry& a, const IndexEntry& b) { return a.number < b.number; });
    // A capped scan may have skipped matches past its resume point: never return anything beyond it.
    std::optional<FragmentNumber> resume;
    for (const auto& r : {disk.resume, memory.resume}) {
        if (r && (!resume || *r < *resume)) resume = r;
    }
    page.fragments.clear();
    page.next_token.clear();
    for (const auto& e : merged) {
        if (resume && e.number >= *resume) break;
        if (page.fragments.size() == max_results) {
            page.next_token = format_fragment_number(e.number);
            return {};
        }
        page.fragments.push_back(e.info());
    }
    if (resume) page.next_token = format_fragment_number(*resume);
    return {};
}

std::error_code StreamLog::oldest(FragmentInfo& info) const {
    std::lock_guard lock(state_mutex_);
    std::optional<IndexEntry> best;
    if (!index_.empty()) best = index_.front();
    if (!window_index_.empty() && (!best || window_index_.front().number < best->number)) {
        best = window_index_.front();
    }
    if (!best) return Errc::fragment_not_found;
    info = best->info();
    return {};
}

std::error_code StreamLog::newest(FragmentInfo& info) const {
    std::lock_guard lock(state_mutex_);
    std::optional<IndexEntry> best;
    if (!index_.empty()) best = index_.back();
    if (!window_index_.empty() && (!best || window_index_.back().number > best->number)) {
        best = window_index_.back();
    }
    if (!best) return Errc::fragment_not_found;
    info = best->info();
    return {};
}

std::error_code StreamLog::next_after(FragmentNumber after, FragmentInfo& info) const {
    std::lock_guard lock(state_mutex_);
    std::optional<IndexEntry> best;
    if (auto i = index_.upper_bound(after); i < index_.size()) best = index_[i];
    if (auto w = window_index_.upper_bound(after); w < window_index_.size()) {
        if (!best || window_index_[w].number < best->number) best = window_index_[w];
    }
    if (!best) return Errc::fragment_not_found;
    info = best->info();
    return {};
}

}  // namespace kinema::storage
