// Live fan-out, one hub per stream. The producer's session (through LiveSink) hands each frame over as it is
// parsed; the hub serialises it once, as a SimpleBlock in memory it shares, and queues that same block to
// every viewer. Blocks go back to back into chunks of kArenaChunkBytes (one allocation for many frames; a
// chunk is freed when the last item pointing into it goes). It keeps the current fragment (GOP) so a viewer
// joining with NOW starts at its key frame at once.
//
// Viewer queues are bounded by bytes. A viewer whose queue is full skips: frames are dropped (and counted)
// until the next point it can resume cleanly, the start of a fragment or a key frame inside a fragment whose
// start it received. Pushing never waits for a viewer: it takes the viewer's own short lock and calls its
// notify function, which should post to the viewer's strand. The viewer list is taken under the hub's lock
// and the pushes happen outside it. The hub holds viewers by weak_ptr: a viewer leaves when its owner drops
// it.
//
// Replays: a fragment whose producer timestamp is not after the last one published is a reconnecting
// producer resending what viewers already saw; it is stored (or de-duplicated) but not published again.
// A hub lives only while a producer session or a viewer holds it; a new one starts from what the store
// holds (LiveHubSeed), so replays of stored fragments stay suppressed across a hub's re-creation.
//
// End of a stream (DeleteStream): end_stream() calls every end watcher once and publishes nothing more.
#pragma once

#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <vector>

#include <kinema/storage/fragment_store.h>

#include "live_sink.h"

namespace kinema::server {

struct LiveItem {
    enum class Kind { fragment_begin, frame, fragment_end };
    Kind kind = Kind::frame;
    std::shared_ptr<const LiveFragmentStart> start;  // the fragment it belongs to (every kind)
    std::span<const std::uint8_t> block;             // frame: the SimpleBlock element
    std::shared_ptr<const void> memory;              // frame: what holds `block` (shared with other frames)
    bool key = false;                                // frame: a key frame
    std::string fragment_number;                     // fragment_end: "" when the fragment was dropped

    std::size_t bytes() const noexcept { return kind == Kind::frame ? block.size() : 64; }
};

class LiveViewer {
public:
    // Everything queued, in order (moved out). From the viewer's strand.
    std::vector<LiveItem> take();
    // Frames skipped so far. From the viewer's strand; re-arms the notification of the next skip, so that a
    // viewer stuck in a write still reports its skips (at most one notification pending).
    std::uint64_t frames_skipped();
    std::size_t queued_bytes() const;

private:
    friend class LiveHub;
    LiveViewer(std::size_t max_bytes, std::function<void()> notify)
        : max_bytes_(max_bytes), notify_(std::move(notify)) {}
    // Queues `item` under the skip policy; returns true when the viewer must be notified (its queue was
    // empty, or it skipped a frame since it last read frames_skipped()). `skipped` counts a frame dropped
    // here.
    bool push(const LiveItem& item, bool& skipped);
    void push_unbounded(const LiveItem& item);

    mutable std::mutex mutex_;
    std::deque<LiveItem> queue_;
    std::size_t bytes_ = 0;
    std::size_t max_bytes_;
    bool skipping_ = false;
    bool cluster_open_ = false;  // the current fragment's start was queued
    std::uint64_t skipped_ = 0;
    bool skip_unreported_ = false;
    std::function<void()> notify_;
};

struct LiveHubOptions {
    std::size_t viewer_queue_bytes = 8u << 20;  // per viewer
    std::size_t gop_cache_bytes = 64u << 20;    // the current fragment kept for joiners
};

// What a new hub takes over from the store: the newest stored fragment, as if it had been published.
struct LiveHubSeed {
    std::optional<media::Timestamp> last_published;  // its producer timestamp
    storage::FragmentNumber last_completed = 0;      // its number
};

class LiveHub final : public LiveSink {
public:
    explicit LiveHub(LiveHubOptions options = {}, LiveHubSeed seed = {})
        : options_(options), last_published_(seed.last_published), last_completed_(seed.last_completed) {}

    // NOW: the current fragment from its start (its key frame), then everything that follows.
    std::shared_ptr<LiveViewer> join_now(std::function<void()> notify);
    // Hand-over from the archive: joins at the fragment after `after` when that is the one in progress (or
    // the next to begin). nullptr while fragments after `after` have completed but are not yet readable from
    // the store: read them from the archive first, then try again.
    std::shared_ptr<LiveViewer> join_after(storage::FragmentNumber after, std::function<void()> notify);

    std::size_t viewers() const;
    std::uint64_t frames_skipped() const noexcept { return frames_skipped_.load(); }

    // The stream was deleted: nothing more is published, and every end watcher is called once.
    void end_stream();
    bool ended() const;
    // Calls `on_end` once when end_stream() is called (from that thread: post to your strand), at once if
    // it already was. For viewers, also those not joined yet (reading the archive). Watching stops when
    // the returned token is dropped.
    std::shared_ptr<void> watch_end(std::function<void()> on_end);
    std::uint64_t frames_published() const noexcept { return frames_published_.load(); }

    // LiveSink, from the producer's session.
    void on_live_fragment_begin(const LiveFragmentStart& start) override;
    void on_live_frame(const media::Frame& frame) override;
    void on_live_fragment_end(const std::string& fragment_number) override;

private:
    std::shared_ptr<LiveViewer> join(std::function<void()> notify);  // caller holds mutex_
    void publish(LiveItem item);

    LiveHubOptions options_;
    std::mutex publish_mutex_;  // one producer publishes at a time, in order

    // Where frames are serialised (publish_mutex_ held). One allocation per frame was 2% of the network
    // thread's time on a fast stream; a larger frame gets a chunk of its own size.
    static constexpr std::size_t kArenaChunkBytes = 256 << 10;
    std::shared_ptr<std::uint8_t[]> chunk_;
    std::size_t chunk_size_ = 0;
    std::size_t chunk_used_ = 0;

    mutable std::mutex mutex_;  // below
    std::vector<std::weak_ptr<LiveViewer>> viewers_;
    std::vector<std::weak_ptr<std::function<void()>>> end_watchers_;
    bool ended_ = false;
    std::vector<LiveItem> gop_;  // the fragment in progress, from its start
    std::size_t gop_bytes_ = 0;
    bool gop_complete_ = false;  // gop_ holds the fragment from its start
    bool in_fragment_ = false;
    bool suppressed_ = false;  // the fragment in progress is a replay
    std::shared_ptr<const LiveFragmentStart> current_;
    std::optional<media::Timestamp> last_published_;
    storage::FragmentNumber last_completed_ = 0;

    std::atomic<std::uint64_t> frames_skipped_{0};
    std::atomic<std::uint64_t> frames_published_{0};
};

// The hubs of a server, by stream key. The registry holds them by weak_ptr: a hub is created on demand and
// lives while a producer session or a viewer holds it.
class LiveHubRegistry {
public:
    explicit LiveHubRegistry(LiveHubOptions options = {}) : options_(options) {}
    // The stream's hub; a new one (started from `seed()`, when given) if nothing holds one now.
    std::shared_ptr<LiveHub> hub(const std::string& stream, const std::function<LiveHubSeed()>& seed = {});
    // DeleteStream: ends the stream's hub, if one is alive (its viewers are told), and forgets it.
    void end_stream(const std::string& stream);
    // Hubs alive now.
    std::size_t size() const;

private:
    LiveHubOptions options_;
    mutable std::mutex mutex_;
    std::map<std::string, std::weak_ptr<LiveHub>> hubs_;
    std::size_t prune_at_ = 16;  // expired entries are dropped when the map reaches this size
};

}  // namespace kinema::server
