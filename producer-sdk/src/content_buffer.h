// The content buffer: every fragment of a stream from its first frame until its final ACK, as the exact
// bytes that go on the wire (an optional Tags element, then the Cluster with its SimpleBlocks). Keeping the
// serialised cluster, not the frames, makes a replay after a reconnect a plain copy: the new session sends
// the stream header again, then these bytes from the first fragment not yet acknowledged.
//
// Not thread-safe: the stream guards it with its lock. Sizes are bytes, times are PTS (media time) except
// the send times used for staleness, which are steady-clock times.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <deque>
#include <optional>
#include <span>
#include <vector>

#include "kinema/producer/stream_events.h"

namespace kinema::producer {

using Bytes = std::vector<std::uint8_t>;
using SteadyTime = std::chrono::steady_clock::time_point;

// Ordered: a later ACK never moves a fragment back (a late RECEIVED after PERSISTED changes nothing).
enum class FragmentState : std::uint8_t { pending, buffering, received, persisted, rejected };

struct BufferedFragment {
    std::uint64_t sequence = 0;  // producer-local, increasing by one per fragment
    std::int64_t timecode = 0;   // cluster timecode, ms: what ACKs carry
    Timestamp start;             // first frame's PTS
    Timestamp last_pts;
    Bytes bytes;
    std::uint32_t frames = 0;
    bool closed = false;  // no more bytes will be appended
    FragmentState state = FragmentState::pending;
    bool sent_any = false;              // some bytes went out in some session
    std::optional<SteadyTime> sent_at;  // this session: when the last byte of the closed fragment went out
};

struct ContentBufferLimits {
    Duration max_duration = std::chrono::seconds(120);
    std::size_t max_bytes = 128u * 1024u * 1024u;
    // Retention 0: RECEIVED is the final ACK; otherwise PERSISTED.
    bool done_on_received = false;
};

class ContentBuffer {
public:
    explicit ContentBuffer(ContentBufferLimits limits) : limits_(limits) {}

    // --- producer side ---
    // Closes the open fragment (if any) and opens a new one.
    void open_fragment(std::int64_t timecode, Timestamp start);
    // Appends to the open fragment. `frame` counts one frame at `pts`; false for Tags and markers.
    void append(std::span<const std::uint8_t> bytes, Timestamp pts, bool frame);
    void close_fragment();
    bool has_open_fragment() const noexcept { return !fragments_.empty() && !fragments_.back().closed; }
    // Bytes needed for the open fragment so far, to size the next one's allocation.
    std::size_t last_fragment_size() const noexcept { return last_fragment_size_; }

    // True when `bytes` more at `pts` fit without dropping anything.
    bool fits(std::size_t bytes, Timestamp pts) const;
    // Drops whole fragments from the front until `bytes` more at `pts` fit, never the open fragment. False
    // when even that is not enough (the caller drops the frame). `dropped` receives what went.
    bool make_room(std::size_t bytes, Timestamp pts, std::vector<DroppedFragment>& dropped);

    // --- session side ---
    void set_header(Bytes header) { header_ = std::move(header); }
    bool has_header() const noexcept { return !header_.empty(); }
    // A new PutMedia session: the header again, then every fragment not yet done, from the oldest one still
    // inside the replay window (`replay` back from the newest frame); older ones are dropped.
    void start_session(Duration replay, std::vector<DroppedFragment>& dropped);
    void end_session() noexcept { session_active_ = false; }
    bool session_active() const noexcept { return session_active_; }
    // True when a fragment partly sent in this session was dropped: the server holds half a cluster, so the
    // session must be restarted (set until the next start_session).
    bool session_broken() const noexcept { return session_broken_; }
    // Copies up to `max` next bytes of the session to `dst`; 0 when nothing is ready.
    std::size_t next_chunk(std::uint8_t* dst, std::size_t max, SteadyTime now);
    bool has_unsent() const;

    // --- ACKs ---
    // Applies an ACK to the oldest fragment with its timecode that is not done. Returns false when none
    // matches (already dropped or done). A rejected fragment is removed and reported in `dropped`.
    bool apply_ack(AckType type, std::int64_t timecode, std::vector<DroppedFragment>& dropped);
    // The send time of the oldest fragment of this session that went out whole and still waits for an ACK.
    std::optional<SteadyTime> oldest_awaiting_ack() const;

    // --- state ---
    std::size_t bytes() const noexcept { return bytes_; }
    std::size_t fragment_count() const noexcept { return fragments_.size(); }
    Duration duration() const;
    // Age, in media time, of the oldest data not yet sent in this session (everything not done when no
    // session is open), to fragment granularity.
    Duration unsent_age() const;
    bool empty() const noexcept { return fragments_.empty(); }
    std::optional<Timestamp> newest_pts() const { return newest_pts_; }
    const std::deque<BufferedFragment>& fragments() const noexcept { return fragments_; }
    StopReport unacknowledged() const;

private:
    bool is_done(const BufferedFragment& f) const noexcept;
    void pop_done();
    DroppedFragment drop_front(DropReason reason);
    BufferedFragment* find(std::uint64_t sequence);

    ContentBufferLimits limits_;
    std::deque<BufferedFragment> fragments_;
    std::size_t bytes_ = 0;
    std::uint64_t next_sequence_ = 0;
    std::size_t last_fragment_size_ = 0;
    std::optional<Timestamp> newest_pts_;

    Bytes header_;
    bool session_active_ = false;
    bool session_broken_ = false;
    std::size_t header_sent_ = 0;
    std::uint64_t cursor_sequence_ = 0;
    std::size_t cursor_offset_ = 0;
};

}  // namespace kinema::producer
