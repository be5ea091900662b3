#include "live_hub.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <utility>

#include <kinema/media/mkv_writer.h>

namespace kinema::server {

std::vector<LiveItem> LiveViewer::take() {
    std::lock_guard lock(mutex_);
    std::vector<LiveItem> items(std::make_move_iterator(queue_.begin()),
                                std::make_move_iterator(queue_.end()));
    queue_.clear();
    bytes_ = 0;
    return items;
}

std::uint64_t LiveViewer::frames_skipped() {
    std::lock_guard lock(mutex_);
    skip_unreported_ = false;
    return skipped_;
}

std::size_t LiveViewer::queued_bytes() const {
    std::lock_guard lock(mutex_);
    return bytes_;
}

void LiveViewer::push_unbounded(const LiveItem& item) {
    queue_.push_back(item);
    bytes_ += item.bytes();
    if (item.kind == LiveItem::Kind::fragment_begin) cluster_open_ = true;
    if (item.kind == LiveItem::Kind::fragment_end) cluster_open_ = false;
}

bool LiveViewer::push(const LiveItem& item, bool& skipped) {
    std::lock_guard lock(mutex_);
    const bool fits = bytes_ + item.bytes() <= max_bytes_;
    const bool resume_point = item.kind == LiveItem::Kind::fragment_begin ||
                              (item.kind == LiveItem::Kind::frame && item.key && cluster_open_);
    const auto skip = [&] {
        if (item.kind == LiveItem::Kind::fragment_begin) cluster_open_ = false;
        if (item.kind != LiveItem::Kind::frame) return false;
        skipped = true;
        ++skipped_;
        return !std::exchange(skip_unreported_, true);
    };
    if (skipping_ && !(resume_point && fits)) {
        // The closing tags of a fragment whose start went out are tiny and keep the output well formed.
        if (item.kind == LiveItem::Kind::fragment_end && cluster_open_) push_unbounded(item);
        return skip();
    }
    if (!fits && item.kind != LiveItem::Kind::fragment_end) {
        skipping_ = true;
        return skip();
    }
    skipping_ = false;
    const bool was_empty = queue_.empty();
    push_unbounded(item);
    return was_empty;
}

std::shared_ptr<LiveViewer> LiveHub::join(std::function<void()> notify) {
    std::shared_ptr<LiveViewer> viewer(new LiveViewer(options_.viewer_queue_bytes, std::move(notify)));
    if (in_fragment_ && !suppressed_) {
        if (gop_complete_) {
            for (const auto& item : gop_)
                viewer->push_unbounded(item);
        } else {
            viewer->skipping_ = true;  // the current fragment's start is gone: wait for the next one
        }
    }
    viewers_.erase(
        std::remove_if(viewers_.begin(), viewers_.end(), [](const auto& w) { return w.expired(); }),
        viewers_.end());
    viewers_.push_back(viewer);
    return viewer;
}

std::shared_ptr<LiveViewer> LiveHub::join_now(std::function<void()> notify) {
    std::shared_ptr<LiveViewer> viewer;
    bool has_items = false;
    {
        std::lock_guard lock(mutex_);
        viewer = join(notify);
        has_items = !viewer->queue_.empty();  // no publisher can reach it before the lock is released
    }
    if (has_items && notify) notify();
    return viewer;
}

std::shared_ptr<LiveViewer> LiveHub::join_after(storage::FragmentNumber after, std::function<void()> notify) {
    std::shared_ptr<LiveViewer> viewer;
    bool has_items = false;
    {
        std::lock_guard lock(mutex_);
        if (last_completed_ > after) return nullptr;
        viewer = join(notify);
        has_items = !viewer->queue_.empty();
    }
    if (has_items && notify) notify();
    return viewer;
}

std::size_t LiveHub::viewers() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(viewers_.begin(), viewers_.end(), [](const auto& w) { return !w.expired(); }));
}

void LiveHub::publish(LiveItem item) {
    std::vector<std::shared_ptr<LiveViewer>> targets;
    {
        std::lock_guard lock(mutex_);
        if (item.kind == LiveItem::Kind::fragment_begin) {
            gop_.clear();
            gop_bytes_ = 0;
            gop_complete_ = true;
        }
        if (item.kind != LiveItem::Kind::fragment_end && gop_complete_) {
            gop_bytes_ += item.bytes();
            if (gop_bytes_ > options_.gop_cache_bytes) {
                gop_.clear();
                gop_complete_ = false;
            } else {
                gop_.push_back(item);
            }
        }
        targets.reserve(viewers_.size());
        for (const auto& weak : viewers_)
            if (auto viewer = weak.lock()) targets.push_back(std::move(viewer));
    }
    for (const auto& viewer : targets) {
        bool skipped = false;
        if (viewer->push(item, skipped) && viewer->notify_) viewer->notify_();
        if (skipped) frames_skipped_.fetch_add(1, std::memory_order_relaxed);
    }
}

void LiveHub::on_live_fragment_begin(const LiveFragmentStart& start) {
    std::lock_guard publishing(publish_mutex_);
    {
        std::lock_guard lock(mutex_);
        if (ended_) return;
        in_fragment_ = true;
        suppressed_ = last_published_ && start.producer_timestamp <= *last_published_;
        if (suppressed_) return;
        last_published_ = start.producer_timestamp;
        current_ = std::make_shared<const LiveFragmentStart>(start);
    }
    LiveItem item;
    item.kind = LiveItem::Kind::fragment_begin;
    item.start = current_;
    publish(std::move(item));
}

void LiveHub::on_live_frame(const media::Frame& frame) {
    std::lock_guard publishing(publish_mutex_);
    if (suppressed_ || !current_) return;
    std::array<std::uint8_t, media::mkv::kMaxSimpleBlockHeaderBytes> header;
    const std::size_t header_size = media::mkv::simple_block_header(frame.track, frame.relative_timecode,
                                                                    frame.key, frame.payload.size(), header);
    // 0: the reader already checked the timecode fits int16; nothing sensible to publish otherwise.
    if (header_size == 0) return;
    const std::size_t size = header_size + frame.payload.size();
    if (!chunk_ || chunk_size_ - chunk_used_ < size) {
        chunk_size_ = std::max(kArenaChunkBytes, size);
        chunk_ = std::make_shared_for_overwrite<std::uint8_t[]>(chunk_size_);
        chunk_used_ = 0;
    }
    std::uint8_t* block = chunk_.get() + chunk_used_;
    std::memcpy(block, header.data(), header_size);
    if (!frame.payload.empty()) std::memcpy(block + header_size, frame.payload.data(), frame.payload.size());
    chunk_used_ += size;
    LiveItem item;
    item.kind = LiveItem::Kind::frame;
    item.start = current_;
    item.block = {block, size};
    item.memory = chunk_;
    item.key = frame.key;
    frames_published_.fetch_add(1, std::memory_order_relaxed);
    publish(std::move(item));
}

void LiveHub::on_live_fragment_end(const std::string& fragment_number) {
    std::lock_guard publishing(publish_mutex_);
    bool suppressed = false;
    {
        std::lock_guard lock(mutex_);
        in_fragment_ = false;
        if (auto number = storage::parse_fragment_number(fragment_number))
            last_completed_ = std::max(last_completed_, *number);
        suppressed = suppressed_;
        suppressed_ = false;
        gop_.clear();
        gop_bytes_ = 0;
        gop_complete_ = false;
    }
    if (suppressed || !current_) return;
    LiveItem item;
    item.kind = LiveItem::Kind::fragment_end;
    item.start = current_;
    item.fragment_number = fragment_number;
    publish(std::move(item));
    current_.reset();
}

void LiveHub::end_stream() {
    std::vector<std::shared_ptr<std::function<void()>>> watchers;
    {
        std::lock_guard publishing(publish_mutex_);
        std::lock_guard lock(mutex_);
        if (ended_) return;
        ended_ = true;
        in_fragment_ = false;
        suppressed_ = false;
        current_.reset();  // frames and ends of a fragment in progress are not published
        gop_.clear();
        gop_bytes_ = 0;
        gop_complete_ = false;
        viewers_.clear();
        for (const auto& weak : end_watchers_)
            if (auto watcher = weak.lock()) watchers.push_back(std::move(watcher));
        end_watchers_.clear();
    }
    for (const auto& watcher : watchers)
        (*watcher)();
}

bool LiveHub::ended() const {
    std::lock_guard lock(mutex_);
    return ended_;
}

std::shared_ptr<void> LiveHub::watch_end(std::function<void()> on_end) {
    auto watcher = std::make_shared<std::function<void()>>(std::move(on_end));
    {
        std::lock_guard lock(mutex_);
        if (!ended_) {
            end_watchers_.erase(std::remove_if(end_watchers_.begin(), end_watchers_.end(),
                                               [](const auto& w) { return w.expired(); }),
                                end_watchers_.end());
            end_watchers_.push_back(watcher);
            return watcher;
        }
    }
    (*watcher)();
    return watcher;
}

std::shared_ptr<LiveHub> LiveHubRegistry::hub(const std::string& stream,
                                              const std::function<LiveHubSeed()>& seed) {
    std::lock_guard lock(mutex_);
    auto& entry = hubs_[stream];
    if (auto hub = entry.lock()) return hub;
    auto hub = std::make_shared<LiveHub>(options_, seed ? seed() : LiveHubSeed{});
    entry = hub;
    if (hubs_.size() >= prune_at_) {
        std::erase_if(hubs_, [](const auto& item) { return item.second.expired(); });
        prune_at_ = std::max<std::size_t>(16, 2 * hubs_.size());
    }
    return hub;
}

void LiveHubRegistry::end_stream(const std::string& stream) {
    std::shared_ptr<LiveHub> hub;
    {
        std::lock_guard lock(mutex_);
        auto it = hubs_.find(stream);
        if (it == hubs_.end()) return;
        hub = it->second.lock();
        hubs_.erase(it);
    }
    if (hub) hub->end_stream();
}

std::size_t LiveHubRegistry::size() const {
    std::lock_guard lock(mutex_);
    return static_cast<std::size_t>(
        std::count_if(hubs_.begin(), hubs_.end(), [](const auto& item) { return !item.second.expired(); }));
}

}  // namespace kinema::server
