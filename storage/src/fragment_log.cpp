// StreamLog: opening, appends, the commit thread's side (publish, failure), and retention.
// Reads are in fragment_reads.cpp.
#include "fragment_log.h"

#include <algorithm>

#include "crc32c.h"
#include "kinema/storage/error.h"

namespace kinema::storage {

StreamLog::StreamLog(std::string name, std::filesystem::path dir, const StoreOptions& options)
    : name_(std::move(name)), dir_(std::move(dir)), options_(options), fault_(&options.write_fault) {}

std::error_code StreamLog::open(std::uint32_t retention_hours, RecoveryReport* report) {
    std::lock_guard append_lock(append_mutex_);
    {
        std::lock_guard lock(state_mutex_);
        retention_hours_ = retention_hours;
    }
    std::error_code ec;
    if (std::filesystem::exists(dir_, ec) || retention_hours > 0) {
        if (auto open_ec = ensure_disk()) return open_ec;
        if (report) *report = recovery_report_;
    }
    return {};
}

std::error_code StreamLog::ensure_disk() {
    if (disk_ready_) return {};
    std::error_code ec;
    const bool existed = std::filesystem::exists(dir_, ec);
    if (!existed) {
        std::filesystem::create_directories(dir_, ec);
        if (ec) return errno_to_error(ec.value());
        // The new stream directory's name must survive a power cut like the files in it.
        if (auto sync_ec = sync_directory(dir_.parent_path())) return sync_ec;
    }
    RecoveredStream recovered;
    RecoveryOptions recovery;
    recovery.max_payload = options_.max_fragment_bytes;
    recovery.fault = fault_;
    recovery.map_index_min_bytes = options_.map_index_min_bytes;
    if (auto rec_ec = recover_stream(dir_, recovery, recovered)) return rec_ec;
    // Headers put while the stream was memory-only (retention 0) get written now, so fragments that name
    // them from here on can be rebuilt after a restart. Their ids are above the recovered ones: memory-only
    // ids continue from whatever headers.log held when the stream was opened.
    headers_file_ = std::move(recovered.headers_file);
    headers_end_ = recovered.headers_end;
    for (const auto& [id, bytes] : headers_) {
        if (recovered.headers.contains(id)) continue;
        const auto record = encode_header_record(id, *bytes);
        const std::span<const std::uint8_t> buffers[] = {record};
        if (auto write_ec = headers_file_.write_at(headers_end_, buffers)) return write_ec;
        headers_end_ += record.size();
        headers_dirty_ = true;
        recovered.headers[id] = bytes;
    }
    std::lock_guard lock(state_mutex_);
    segments_ = std::move(recovered.segments);
    index_ = std::move(recovered.index);
    const bool had_headers = !headers_.empty();
    headers_ = std::move(recovered.headers);
    for (const auto& [id, bytes] : headers_) {
        last_header_id_ = std::max(last_header_id_, id);
        if (!had_headers) headers_last_ = *bytes;
    }
    recovery_report_ = recovered.report;
    if (!index_.empty()) last_number_ = std::max(last_number_, index_.back().number);
    // Keep appending to the last segment unless it is full; a fresh process starts its age again.
    if (!segments_.empty() && segments_.back()->write_end < options_.segment_max_bytes)
        current_ = segments_.back();
    disk_ready_ = true;
    return {};
}

void StreamLog::set_retention(std::uint32_t hours) {
    std::lock_guard lock(state_mutex_);
    retention_hours_ = hours;
}

void StreamLog::close() {
    std::lock_guard append_lock(append_mutex_);
    std::lock_guard lock(state_mutex_);
    closed_ = true;
}

FragmentNumber StreamLog::next_number() const {
    const auto now = options_.clock ? options_.clock() : media::Timestamp::now();
    const auto micros = now.nanoseconds() > 0 ? static_cast<FragmentNumber>(now.nanoseconds() / 1000) : 0;
    // Not below the current segment's first number either: its records must not be numbered before its
    // name (recovery stops at such a record). An empty segment made by prepare_appends(), or recovered
    // empty, can be named after a clock reading later than this one (a clock set back across a restart).
    return std::max({last_number_ + 1, micros, current_ ? current_->first_number : FragmentNumber{0}});
}

std::error_code StreamLog::put_header(std::span<const std::uint8_t> bytes, HeaderId& id) {
    if (bytes.empty() || bytes.size() > kMaxHeaderBytes) return Errc::invalid_argument;
    std::lock_guard append_lock(append_mutex_);
    std::uint32_t retention = 0;
    {
        std::lock_guard lock(state_mutex_);
        if (closed_) return Errc::closed;
        retention = retention_hours_;
        if (last_header_id_ != 0 &&
            std::equal(bytes.begin(), bytes.end(), headers_last_.begin(), headers_last_.end())) {
            id = last_header_id_;
            return {};
        }
    }
    const HeaderId new_id = last_header_id_ + 1;
    if (retention > 0 || disk_ready_) {
        if (auto ec = ensure_disk()) return ec;
        const auto record = encode_header_record(new_id, bytes);
        const std::span<const std::uint8_t> buffers[] = {record};
        if (auto ec = headers_file_.write_at(headers_end_, buffers)) return ec;
        headers_end_ += record.size();
        headers_dirty_ = true;
    }
    headers_last_.assign(bytes.begin(), bytes.end());
    std::lock_guard lock(state_mutex_);
    headers_[new_id] = std::make_shared<const std::vector<std::uint8_t>>(headers_last_);
    last_header_id_ = new_id;
    id = new_id;
    return {};
}

std::error_code StreamLog::check_space(const Segment& segment, std::uint64_t bytes,
                                       GroupCommitter& committer) {
    if (auto ec = segment.data.take_space_fault(bytes)) return ec;
    // The commit thread writes later: a full disk is refused here, at the append, by what the file system
    // has left after everything already waiting to be written. (A race with other writers can still fail
    // the round's write; its fragments then fail as a failed sync does.)
    //
    // fstatvfs at every append was 1.7% of the network thread's time on a 1 GB/s stream, so a figure read
    // less than kSpaceRecheck ago is used again while what this log has appended since leaves it more than
    // kSpaceSlack above what is needed; near a full disk, every append reads it afresh.
    const std::uint64_t needed = committer.pending_bytes() + bytes + kSpaceMargin;
    const auto now = std::chrono::steady_clock::now();
    if (space_read_at_ && now - *space_read_at_ < kSpaceRecheck &&
        space_available_ >= space_appended_ + needed + kSpaceSlack) {
        space_appended_ += bytes;
        return {};
    }
    std::uint64_t available = 0;
    if (segment.data.available(available)) {  // no figure: let the write tell
        space_read_at_.reset();
        return {};
    }
    space_read_at_ = now;
    space_available_ = available;
    space_appended_ = bytes;
    return available < needed ? make_error_code(Errc::disk_full) : std::error_code{};
}

bool StreamLog::needs_new_segment() const {
    return !current_ || current_->failed || current_->write_end >= options_.segment_max_bytes ||
           std::chrono::steady_clock::now() - current_->created >= options_.segment_max_age;
}

std::error_code StreamLog::prepare_appends() {
    std::lock_guard append_lock(append_mutex_);
    {
        std::lock_guard lock(state_mutex_);
        if (closed_) return Errc::closed;
        if (retention_hours_ == 0) return {};  // memory only: nothing to create
    }
    if (auto ec = ensure_disk()) return ec;
    if (needs_new_segment()) {
        // Named after the number the next append will take (reserved here, as next_fragment_number()
        // does), so that append finds the segment ready.
        if (!reserved_number_ || *reserved_number_ <= last_number_) reserved_number_ = next_number();
        if (auto ec = roll_segment(*reserved_number_)) return ec;
    }
    if (!current_->writer.is_open())
        return File::open_for_direct_writes(current_->data.path(), current_->writer);
    return {};
}

std::error_code StreamLog::roll_segment(FragmentNumber first) {
    auto segment = std::make_shared<Segment>();
    if (auto ec = Segment::create(dir_, first, fault_, *segment)) return ec;
    std::lock_guard lock(state_mutex_);
    segments_.push_back(segment);
    current_ = std::move(segment);
    return {};
}

std::error_code StreamLog::append(std::span<const std::uint8_t> bytes, const FragmentMetadata& metadata,
                                  GroupCommitter& committer, CommitCallback on_commit,
                                  FragmentNumber& number) {
    if (bytes.empty() || bytes.size() > options_.max_fragment_bytes) return Errc::invalid_argument;
    const std::uint32_t checksum = crc32c(bytes);
    const auto size = static_cast<std::uint32_t>(bytes.size());

    std::lock_guard append_lock(append_mutex_);
    std::uint32_t retention = 0;
    {
        std::lock_guard lock(state_mutex_);
        if (closed_) return Errc::closed;
        retention = retention_hours_;
        if (metadata.header_id != 0 && !headers_.contains(metadata.header_id)) return Errc::invalid_argument;
    }
    const FragmentNumber candidate =
        reserved_number_ && *reserved_number_ > last_number_ ? *reserved_number_ : next_number();
    PendingCommit pending;
    pending.stream = shared_from_this();
    pending.entry.number = candidate;
    pending.entry.producer_ns = metadata.producer_timestamp.nanoseconds();
    pending.entry.server_ns = metadata.server_timestamp.nanoseconds();
    pending.entry.duration_ns = metadata.duration.count();
    pending.entry.size = size;
    pending.entry.checksum = checksum;
    pending.entry.header_id = metadata.header_id;
    pending.entry.frame_count = metadata.frame_count;
    pending.on_commit = std::move(on_commit);

    if (!committer.has_room(size)) return Errc::commit_backlog;
    if (retention == 0) {
        if (metadata.track_numbers.size() > kMaxTracks) return Errc::invalid_argument;
        pending.metadata = std::make_shared<const FragmentMetadata>(metadata);
        pending.bytes = std::make_shared<const std::vector<std::uint8_t>>(bytes.begin(), bytes.end());
        if (auto ec = committer.submit(std::move(pending))) return ec;
    } else {
        if (auto ec = ensure_disk()) return ec;
        std::vector<std::uint8_t> prefix;
        if (auto ec = encode_record_prefix(candidate, metadata, size, checksum, prefix)) return ec;
        if (needs_new_segment()) {
            if (auto ec = roll_segment(candidate)) return ec;
        }
        Segment& segment = *current_;
        if (!segment.writer.is_open()) {
            if (auto ec = File::open_for_direct_writes(segment.data.path(), segment.writer)) return ec;
        }
        const auto record_len = static_cast<std::uint32_t>(prefix.size() + bytes.size());
        // The commit thread must not take the staged record before it is queued (an append the committer
        // refuses is taken back): the staging lock is held until then.
        std::lock_guard staged_lock(segment.staged.mutex);
        const std::uint64_t offset = segment.staged.next_offset();
        if (auto ec = check_space(segment, align_up(offset + record_len) - offset, committer)) return ec;
        const std::span<const std::uint8_t> buffers[] = {prefix, bytes};
        segment.staged.append(buffers, committer.pool());
        pending.segment = current_;
        pending.entry.offset = offset;
        pending.entry.record_len = record_len;
        if (auto ec = committer.submit(std::move(pending))) {
            // Not accepted: take the record back so nothing unacknowledged reaches the log.
            segment.staged.take_back(record_len);
            return ec;
        }
        segment.write_end = offset + record_len;
    }
    last_number_ = candidate;
    reserved_number_.reset();
    recent_.push_back({candidate, metadata.producer_timestamp.nanoseconds(), size, checksum});
    while (recent_.size() > options_.duplicate_window)
        recent_.pop_front();
    number = candidate;
    return {};
}

std::optional<FragmentNumber> StreamLog::find_duplicate(std::int64_t producer_ns, std::uint32_t size,
                                                        std::uint32_t checksum) const {
    std::lock_guard append_lock(append_mutex_);
    for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
        if (it->producer_ns == producer_ns && it->size == size && it->checksum == checksum) return it->number;
    }
    return std::nullopt;
}

std::optional<FragmentNumber> StreamLog::find_recent(std::int64_t producer_ns) const {
    std::lock_guard append_lock(append_mutex_);
    for (auto it = recent_.rbegin(); it != recent_.rend(); ++it) {
        if (it->producer_ns == producer_ns) return it->number;
    }
    return std::nullopt;
}

std::error_code StreamLog::next_fragment_number(FragmentNumber& number) {
    std::lock_guard append_lock(append_mutex_);
    {
        std::lock_guard lock(state_mutex_);
        if (closed_) return Errc::closed;
    }
    if (!reserved_number_ || *reserved_number_ <= last_number_) reserved_number_ = next_number();
    number = *reserved_number_;
    return {};
}

bool StreamLog::take_headers_dirty() {
    return headers_dirty_.exchange(false);
}
void StreamLog::restore_headers_dirty() {
    headers_dirty_ = true;
}
std::error_code StreamLog::sync_headers() {
    return headers_file_.sync_data();
}

std::error_code StreamLog::publish(const PendingCommit& pending) {
    std::lock_guard lock(state_mutex_);
    if (closed_) return Errc::closed;
    if (!pending.segment) {
        window_index_.push_back(pending.entry);
        window_.push_back({pending.metadata, pending.bytes});
        window_bytes_ += pending.entry.size;
        evict_window();
        return {};
    }
    if (pending.segment->failed) return Errc::io_error;
    index_.push_back(pending.entry);
    pending.segment->durable_end = pending.entry.offset + pending.entry.record_len;
    return {};
}

void StreamLog::evict_window() {
    std::size_t drop = 0;
    while (window_.size() - drop > 1 && (window_.size() - drop > options_.memory_window_fragments ||
                                         window_bytes_ > options_.memory_window_bytes)) {
        window_bytes_ -= window_[drop].bytes->size();
        ++drop;
    }
    if (drop == 0) return;
    window_.erase(window_.begin(), window_.begin() + static_cast<std::ptrdiff_t>(drop));
    window_index_.pop_front(drop);
}

void StreamLog::fail_segment(const std::shared_ptr<Segment>& segment, ChunkPool& pool) {
    std::lock_guard append_lock(append_mutex_);
    if (!segment->failed.exchange(true)) {
        // The kernel may have dropped the unsynced pages; keep only what an earlier sync covered.
        (void)segment->data.truncate(segment->durable_end);
        std::lock_guard staged_lock(segment->staged.mutex);
        segment->staged.reset(segment->durable_end, pool);
    }
    if (current_ == segment) current_.reset();
}

void StreamLog::forget(FragmentNumber number) {
    std::lock_guard append_lock(append_mutex_);
    std::erase_if(recent_, [number](const RecentFragment& r) { return r.number == number; });
}

void StreamLog::notify_tail(const FragmentInfo& info) {
    std::lock_guard lock(tail_mutex_);
    for (auto& [id, callback] : followers_)
        callback(info);
}

std::uint64_t StreamLog::follow(TailCallback callback) {
    std::lock_guard lock(tail_mutex_);
    const auto id = next_follower_id_++;
    followers_.emplace(id, std::move(callback));
    return id;
}

void StreamLog::unfollow(std::uint64_t id) {
    std::lock_guard lock(tail_mutex_);
    followers_.erase(id);
}

std::size_t StreamLog::sweep(std::int64_t now_ns) {
    std::lock_guard append_lock(append_mutex_);
    std::vector<std::shared_ptr<Segment>> doomed;
    {
        std::lock_guard lock(state_mutex_);
        if (closed_) return 0;
        const std::int64_t cutoff = now_ns - static_cast<std::int64_t>(retention_hours_) * 3'600'000'000'000;
        std::size_t drop_entries = 0;
        std::size_t drop_segments = 0;
        while (drop_segments < segments_.size()) {
            const auto& segment = segments_[drop_segments];
            const FragmentNumber next_first = drop_segments + 1 < segments_.size()
                                                  ? segments_[drop_segments + 1]->first_number
                                                  : ~FragmentNumber{0};
            // Entries of this segment are at the front of what is left of the index.
            const std::size_t count = index_.upper_bound(next_first - 1) - drop_entries;
            if (!segment->failed && segment->write_end != segment->durable_end) break;  // commits in flight
            if (count == 0 && segment == current_) break;  // the empty active segment
            if (count > 0 && index_[drop_entries + count - 1].server_ns >= cutoff) break;
            drop_entries += count;
            ++drop_segments;
        }
        if (drop_segments == 0) return 0;
        doomed.assign(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(drop_segments));
        segments_.erase(segments_.begin(), segments_.begin() + static_cast<std::ptrdiff_t>(drop_segments));
        index_.pop_front(drop_entries);
    }
    for (const auto& segment : doomed) {
        if (segment == current_) current_.reset();
        std::error_code ec;
        // Readers holding the segment keep its open descriptors; the names go now.
        std::filesystem::remove(Segment::data_path(dir_, segment->first_number), ec);
        std::filesystem::remove(Segment::index_path(dir_, segment->first_number), ec);
    }
    return doomed.size();
}

}  // namespace kinema::storage
