// The fragment log of kinema::storage: per-stream append-only segment files with a persisted time index,
// group commit, retention and crash recovery. See docs/storage-format.md for the on-disk format and the
// durability contract.
//
// Threading: every method may be called from any thread, concurrently, for any streams. Blocking work
// (fdatasync) runs on the store's own commit thread, never on the caller's. Reads do a pread of the
// requested record at most; index lookups never touch the disk.
#pragma once

#include <chrono>
#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <system_error>
#include <vector>

#include "kinema/media/timestamp.h"

namespace kinema::storage {

// Unique and strictly increasing per stream. Derived from the server clock in microseconds when the number
// is picked (by append(), or earlier by next_fragment_number()), or the previous number + 1 when that is
// larger, so a number handed out for a fragment lost in a crash before its commit is never handed out again
// after the restart.
using FragmentNumber = std::uint64_t;
// A producer session's MKV header (EBML header + Segment + Info + Tracks), unique per stream, never 0.
using HeaderId = std::uint32_t;

// KVS-style decimal string: always 20 digits, zero padded, so lexical order equals numeric order.
std::string format_fragment_number(FragmentNumber number);
// Accepts exactly what format_fragment_number produces, and also shorter decimal strings (1-20 digits)
// that fit in 64 bits; anything else gives nullopt.
std::optional<FragmentNumber> parse_fragment_number(std::string_view text);

// [a-zA-Z0-9_.-]{1,256}, and not "." or "..". Checked before any path is built from the name.
bool is_valid_stream_name(std::string_view name);

// What the ingest side knows about a fragment when it appends it (parsed once, at ingest).
struct FragmentMetadata {
    media::Timestamp producer_timestamp;  // cluster timecode (absolute), or start + relative timecode
    media::Timestamp server_timestamp;    // arrival of the fragment's first byte
    media::Duration duration{};
    std::uint32_t frame_count = 0;
    std::vector<std::uint64_t> track_numbers;      // at most 255 entries
    std::vector<std::uint32_t> key_frame_offsets;  // byte offsets of key frames inside the fragment
    HeaderId header_id = 0;                        // from put_header(); 0 = none
};

// What the index knows: answers ListFragments-style queries without reading fragment data.
struct FragmentInfo {
    FragmentNumber number = 0;
    std::uint32_t size = 0;      // bytes of the fragment as received
    std::uint32_t checksum = 0;  // CRC32C of those bytes
    media::Timestamp producer_timestamp;
    media::Timestamp server_timestamp;
    media::Duration duration{};
    std::uint32_t frame_count = 0;
    HeaderId header_id = 0;
};

// A whole fragment: its full metadata and its bytes, exactly as appended.
struct Fragment {
    FragmentInfo info;
    FragmentMetadata metadata;
    std::shared_ptr<const std::vector<std::uint8_t>> bytes;
};

enum class TimestampKind { server, producer };

// One page of a range listing, in fragment-number order.
struct FragmentPage {
    std::vector<FragmentInfo> fragments;
    std::string next_token;  // empty: the range is exhausted; otherwise pass it back to get the next page
};

// Fires once per fragment: with {} once it is durable (fdatasync'd; for retention-0 streams: once it is in
// the in-memory window), or with the error that failed it (disk_full, io_error, closed). Runs on the
// commit thread: keep it short (post to your executor), do not throw, do not call flush() from it.
using CommitCallback = std::function<void(FragmentNumber, std::error_code)>;

// Called on the commit thread once per fragment as it becomes readable (durable), in number order.
using TailCallback = std::function<void(const FragmentInfo&)>;

struct StoreOptions {
    // A segment file is sealed and a new one started when it reaches this size or age.
    std::uint64_t segment_max_bytes = 64ull << 20;
    std::chrono::seconds segment_max_age{3600};
    // Group commit: the commit thread waits at most this long after the first pending fragment before it
    // syncs, to let more fragments share the sync. 0 = sync as soon as the previous sync is done (lowest
    // latency; fragments arriving during a sync still share the next one). Larger = fewer syncs. 10 ms:
    // a PERSISTED ACK follows a fragment of 1-10 s, so 10 ms more is invisible to producers, and at 100
    // streams x 1 fragment/s it cuts syncs per fragment from about 0.9 (0 ms) to about 0.4.
    std::chrono::microseconds commit_max_wait{10'000};
    // Bound of the commit queue: appends fail with commit_backlog while this many appended bytes wait for
    // their write and sync (the disk cannot keep up), instead of queueing without limit. They wait in the
    // process's memory (staged for the commit thread's direct-I/O write), so this is also that memory's
    // bound.
    std::uint64_t max_pending_bytes = 1ull << 30;
    // Retention-0 streams keep only the newest fragments in memory, bounded by both limits.
    std::size_t memory_window_fragments = 64;
    std::size_t memory_window_bytes = 64ull << 20;
    // Retention sweep period; 0 disables the background sweep (tests call sweep_retention()).
    std::chrono::milliseconds retention_sweep_interval{60'000};
    // Largest fragment accepted (KVS: 50 MB). Also the bound applied to every size read from disk.
    std::uint32_t max_fragment_bytes = 64u << 20;
    // Index files at least this big are used in place through a read-only mapping when a stream is opened
    // (a million-fragment stream opens without copying its 64 MB index); smaller ones are copied, which
    // keeps the number of mappings (vm.max_map_count) bounded however many segments there are.
    std::uint64_t map_index_min_bytes = 1u << 20;
    // How many recent fragments per stream find_duplicate() looks at.
    std::size_t duplicate_window = 256;
    // Test hook, called before every write of `bytes` bytes to a file of the data directory (for a segment's
    // records: when the append takes their space, before staging them); a non-zero return fails that write
    // as if the system call had (e.g. std::errc::no_space_on_device).
    std::function<std::error_code(const std::filesystem::path& file, std::size_t bytes)> write_fault;
    // Test hook, called on the commit thread before it writes what a segment has staged (`bytes` bytes,
    // padding included); a non-zero return fails that write as if pwritev had: the fragments staged in it
    // fail with that error (ENOSPC -> disk_full) and the segment is cut back to what is durable.
    std::function<std::error_code(const std::filesystem::path& file, std::size_t bytes)> staged_write_fault;
    // Test hook, called before every sync round of the commit thread; a non-zero return fails the round as
    // if fdatasync had (e.g. std::errc::io_error): its fragments fail and are cut from the log.
    std::function<std::error_code()> sync_fault;
    // Called on the commit thread after each sync round (also a failed one) with how long the sync took and
    // how many fragments it covered (an fsync-latency histogram for /metrics). Keep it short.
    std::function<void(std::chrono::nanoseconds, std::size_t)> on_sync;
    // Clock for server-side decisions (retention, fragment numbers); tests inject a fake one.
    std::function<media::Timestamp()> clock;
};

// Live tail registration; destroying or cancelling it guarantees the callback is not running and will not
// be called again. Do not cancel from inside the callback.
class TailSubscription {
public:
    TailSubscription() = default;
    TailSubscription(TailSubscription&&) noexcept;
    TailSubscription& operator=(TailSubscription&&) noexcept;
    ~TailSubscription();
    void cancel();
    explicit operator bool() const { return static_cast<bool>(cancel_); }

private:
    friend class FragmentStore;
    explicit TailSubscription(std::function<void()> cancel) : cancel_(std::move(cancel)) {}
    std::function<void()> cancel_;
};

struct StoreStats {
    std::uint64_t syncs = 0;                // fdatasync/syncfs calls made by the commit thread
    std::uint64_t fragments_committed = 0;  // fragments made durable
    std::uint64_t bytes_appended = 0;
    std::chrono::nanoseconds sync_time{0};  // total time spent in those calls
};

class FragmentStore {
public:
    // Opens (creating if needed) <data_dir>/streams. One instance per data directory, enforced with a lock
    // (flock of <data_dir>/streams/.lock). Streams are opened lazily with open_stream(). Throws
    // std::system_error if the directory cannot be created or another store has it open.
    static std::unique_ptr<FragmentStore> open(const std::filesystem::path& data_dir,
                                               StoreOptions options = {});
    ~FragmentStore();
    FragmentStore(const FragmentStore&) = delete;
    FragmentStore& operator=(const FragmentStore&) = delete;

    // --- Streams -------------------------------------------------------------------------------------
    // Opens the stream's log (recovering it after a crash), creating it if it does not exist; opening an
    // open stream just applies the retention. retention_hours = 0: no disk writes, memory window only.
    // Errors: invalid_argument (bad name), io_error, corrupt_record (index and data cannot be reconciled).
    std::error_code open_stream(std::string_view stream, std::uint32_t retention_hours);
    bool is_open(std::string_view stream) const;
    // Closes the stream (if open) and removes all its data, also when it was not opened since the start.
    // Pending commits fail with `closed`. resource_not_found if there was neither an open stream nor data.
    std::error_code delete_stream(std::string_view stream);
    std::error_code set_retention(std::string_view stream, std::uint32_t retention_hours);

    // --- Writes --------------------------------------------------------------------------------------
    // Stores a session's MKV header; identical consecutive headers give the same id.
    std::error_code put_header(std::string_view stream, std::span<const std::uint8_t> bytes, HeaderId& id);
    // Does now, on the caller's thread, the disk work the stream's next append would otherwise do first:
    // its directory, a new segment's files (named after the number the append will then take) and their
    // opening. Call it from a thread that may block (a stream about to get a producer), so that appends on a
    // network thread find their segment ready. Nothing for a stream kept in memory (retention 0). An error
    // here is met again, and reported, by that append.
    std::error_code prepare_appends(std::string_view stream);
    // Appends a fragment (buffered write, no sync) and returns its number in `number`. On error nothing is
    // stored and on_commit is not called. Otherwise on_commit (if any) fires later on the commit thread.
    std::error_code append(std::string_view stream, std::span<const std::uint8_t> bytes,
                           const FragmentMetadata& metadata, FragmentNumber& number,
                           CommitCallback on_commit = {});
    // Blocks until everything appended before the call is durable (or failed). For tests and shutdown.
    std::error_code flush();
    // A recent fragment (pending or committed) with this producer timestamp and identical content, if any:
    // a reconnecting producer's replay that the server should acknowledge without storing it twice.
    std::optional<FragmentNumber> find_duplicate(std::string_view stream, media::Timestamp producer_timestamp,
                                                 std::span<const std::uint8_t> bytes) const;
    // The newest recent fragment (pending or committed, among the same duplicate_window fragments that
    // find_duplicate() looks at) with this producer timestamp, if any: what a replayed fragment will most
    // likely turn out to duplicate, known at its first byte (find_duplicate() confirms it with the content).
    std::optional<FragmentNumber> find_recent(std::string_view stream,
                                              media::Timestamp producer_timestamp) const;
    // The number the next append() to the stream will get. The first call after an append picks it, as
    // append() would (clock, or last number + 1), and every later call returns the same number until an
    // append takes it: PutMedia announces it in a fragment's BUFFERING ACK, before the fragment is complete.
    // If that fragment is dropped, the next append gets the number. The stream has one writer (one producer
    // per stream): an append by anyone else would take the number too. Not persisted. Errors:
    // resource_not_found (stream not open), closed.
    std::error_code next_fragment_number(std::string_view stream, FragmentNumber& number);

    // --- Reads (see only committed fragments) --------------------------------------------------------
    std::error_code get_info(std::string_view stream, FragmentNumber number, FragmentInfo& info) const;
    std::error_code read(std::string_view stream, FragmentNumber number, Fragment& fragment) const;
    std::error_code get_header(std::string_view stream, HeaderId id,
                               std::shared_ptr<const std::vector<std::uint8_t>>& bytes) const;
    // First fragment (in number order) whose timestamp of `kind` is >= at.
    std::error_code find_at_or_after(std::string_view stream, TimestampKind kind, media::Timestamp at,
                                     FragmentInfo& info) const;
    // Fragments with start <= timestamp <= end, in number order, at most max_results per page. `token` is
    // "" for the first page, then the previous page's next_token (same stream, kind and range).
    std::error_code list(std::string_view stream, TimestampKind kind, media::Timestamp start,
                         media::Timestamp end, std::size_t max_results, std::string_view token,
                         FragmentPage& page) const;
    std::error_code oldest(std::string_view stream, FragmentInfo& info) const;
    std::error_code newest(std::string_view stream, FragmentInfo& info) const;
    // First committed fragment with a number > after (fragment_not_found if none yet).
    std::error_code next_after(std::string_view stream, FragmentNumber after, FragmentInfo& info) const;
    // Calls on_fragment for every fragment of the stream committed after this call. To follow without a gap:
    // subscribe first, then read what exists with next_after(), and skip numbers already seen.
    std::error_code follow(std::string_view stream, TailCallback on_fragment, TailSubscription& subscription);

    // --- Maintenance ---------------------------------------------------------------------------------
    // Deletes every whole segment whose newest fragment is older than the stream's retention. The
    // background thread calls it every retention_sweep_interval. Returns the number of segments removed.
    std::size_t sweep_retention();
    StoreStats stats() const;

    class Impl;

private:
    explicit FragmentStore(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::storage
