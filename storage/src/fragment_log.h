// One stream's fragment log: its segments and time index on disk, or its bounded in-memory window when
// its retention is 0 hours. Appends are serialised per stream; reads copy what they need from the index
// under a short lock and read the record outside it.
#pragma once

#include <chrono>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include "file.h"
#include "group_commit.h"
#include "kinema/storage/fragment_store.h"
#include "recovery.h"
#include "segment_file.h"
#include "time_index.h"

namespace kinema::storage {

class StreamLog : public std::enable_shared_from_this<StreamLog> {
public:
    StreamLog(std::string name, std::filesystem::path dir, const StoreOptions& options);

    // Recovers the stream's directory if it exists; creates it when retention_hours > 0.
    std::error_code open(std::uint32_t retention_hours, RecoveryReport* report = nullptr);
    const std::string& name() const { return name_; }
    const std::filesystem::path& dir() const { return dir_; }
    void set_retention(std::uint32_t hours);
    // Refuses further appends; pending commits fail with `closed`.
    void close();

    // --- Writes (any thread) -------------------------------------------------------------------------
    std::error_code put_header(std::span<const std::uint8_t> bytes, HeaderId& id);
    // What the next append would otherwise do on disk (the stream's directory, its segment files and their
    // opening), done now; nothing when the stream keeps no data on disk.
    std::error_code prepare_appends();
    std::error_code append(std::span<const std::uint8_t> bytes, const FragmentMetadata& metadata,
                           GroupCommitter& committer, CommitCallback on_commit, FragmentNumber& number);
    std::optional<FragmentNumber> find_duplicate(std::int64_t producer_ns, std::uint32_t size,
                                                 std::uint32_t checksum) const;
    std::optional<FragmentNumber> find_recent(std::int64_t producer_ns) const;
    std::error_code next_fragment_number(FragmentNumber& number);

    // --- Commit thread ------------------------------------------------------------------------------
    bool take_headers_dirty();
    void restore_headers_dirty();
    std::error_code sync_headers();
    // Makes a synced fragment visible to readers; fails if its segment failed or the stream closed.
    std::error_code publish(const PendingCommit& pending);
    // After a failed write or sync: cuts the segment back to what is durable, drops what it has staged, and
    // moves appends to a new segment.
    void fail_segment(const std::shared_ptr<Segment>& segment, ChunkPool& pool);
    void forget(FragmentNumber number);
    void notify_tail(const FragmentInfo& info);

    // --- Reads (any thread) --------------------------------------------------------------------------
    std::error_code get_info(FragmentNumber number, FragmentInfo& info) const;
    std::error_code read(FragmentNumber number, Fragment& fragment) const;
    std::error_code get_header(HeaderId id, std::shared_ptr<const std::vector<std::uint8_t>>& bytes) const;
    std::error_code find_at_or_after(TimestampKind kind, std::int64_t at_ns, FragmentInfo& info) const;
    std::error_code list(TimestampKind kind, std::int64_t start_ns, std::int64_t end_ns,
                         std::size_t max_results, std::string_view token, FragmentPage& page) const;
    std::error_code oldest(FragmentInfo& info) const;
    std::error_code newest(FragmentInfo& info) const;
    std::error_code next_after(FragmentNumber after, FragmentInfo& info) const;
    std::uint64_t follow(TailCallback callback);
    void unfollow(std::uint64_t id);

    // Deletes whole segments older than the retention at `now_ns`; returns how many.
    std::size_t sweep(std::int64_t now_ns);

private:
    struct RecentFragment {
        FragmentNumber number;
        std::int64_t producer_ns;
        std::uint32_t size;
        std::uint32_t checksum;
    };
    struct WindowFragment {
        std::shared_ptr<const FragmentMetadata> metadata;
        std::shared_ptr<const std::vector<std::uint8_t>> bytes;
    };

    std::error_code ensure_disk();                       // append_mutex_ held
    std::error_code roll_segment(FragmentNumber first);  // append_mutex_ held
    bool needs_new_segment() const;                      // append_mutex_ held
    // disk_full when the file system has no room for `bytes` more (append_mutex_ held).
    std::error_code check_space(const Segment& segment, std::uint64_t bytes, GroupCommitter& committer);
    // Kept free beyond what appends need, for index entries, header records and file-system metadata.
    static constexpr std::uint64_t kSpaceMargin = 256 << 10;
    // check_space's reuse of the file system's figure (append_mutex_ held).
    static constexpr std::chrono::milliseconds kSpaceRecheck{100};
    static constexpr std::uint64_t kSpaceSlack = 256ull << 20;
    std::optional<std::chrono::steady_clock::time_point> space_read_at_;
    std::uint64_t space_available_ = 0;                                 // as read then
    std::uint64_t space_appended_ = 0;                                  // by this log since
    FragmentNumber next_number() const;                                 // append_mutex_ held
    std::shared_ptr<Segment> segment_for(FragmentNumber number) const;  // state_mutex_ held
    void evict_window();                                                // state_mutex_ held

    const std::string name_;
    const std::filesystem::path dir_;
    const StoreOptions& options_;
    const WriteFault* fault_;

    // Appends (lock order: append_mutex_, then state_mutex_).
    mutable std::mutex append_mutex_;
    bool disk_ready_ = false;
    RecoveryReport recovery_report_;
    std::shared_ptr<Segment> current_;
    FragmentNumber last_number_ = 0;
    std::optional<FragmentNumber> reserved_number_;  // picked by next_fragment_number(), taken by append()
    std::deque<RecentFragment> recent_;
    std::vector<std::uint8_t> headers_last_;
    File headers_file_;
    std::uint64_t headers_end_ = 0;
    std::atomic<bool> headers_dirty_{false};

    // What readers see.
    mutable std::mutex state_mutex_;
    bool closed_ = false;
    std::uint32_t retention_hours_ = 0;
    std::vector<std::shared_ptr<Segment>> segments_;  // by first number
    TimeIndex index_;
    std::map<HeaderId, std::shared_ptr<const std::vector<std::uint8_t>>> headers_;
    HeaderId last_header_id_ = 0;
    TimeIndex window_index_;
    std::deque<WindowFragment> window_;
    std::size_t window_bytes_ = 0;

    std::mutex tail_mutex_;
    std::uint64_t next_follower_id_ = 1;
    std::map<std::uint64_t, TailCallback> followers_;
};

}  // namespace kinema::storage
