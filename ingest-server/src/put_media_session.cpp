#include "put_media_session.h"

#include <algorithm>
#include <cstring>
#include <limits>
#include <map>
#include <mutex>

#include <kinema/media/mkv_reader.h>
#include <kinema/media/mkv_writer.h>
#include <kinema/storage/error.h>

#include "stream_header.h"

namespace kinema::server {
namespace {

using media::Timestamp;
using storage::FragmentNumber;

// Cluster timecode ticks in milliseconds, saturating instead of overflowing on hostile input.
std::int64_t ticks_to_ms(std::int64_t ticks, std::uint64_t scale_ns) {
    std::int64_t ns = 0;
    if (scale_ns > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
        __builtin_mul_overflow(ticks, static_cast<std::int64_t>(scale_ns), &ns)) {
        return ticks < 0 ? std::numeric_limits<std::int64_t>::min()
                         : std::numeric_limits<std::int64_t>::max();
    }
    return media::Timestamp::from_nanoseconds(ns).milliseconds();
}

// The session's input: the fragment in progress (or the stream header being read) and the bytes after it,
// contiguous so that a complete fragment is appended to the store straight from here. Transports read
// into prepare()'s space, so the bytes are copied once from the socket and once into the store. Unlike a
// std::vector it does not zero the space it grows by, which would be one more pass over every byte.
class InputBuffer {
public:
    std::uint8_t* data() noexcept { return data_.get() + begin_; }
    std::size_t size() const noexcept { return size_; }

    std::span<std::uint8_t> prepare(std::size_t n) {
        if (capacity_ - begin_ - size_ < n) {
            // Moving the bytes to the front costs no more than the bytes consumed since the last move when
            // there are no more of them than the space they free; otherwise grow.
            if (size_ <= begin_ && capacity_ - size_ >= n) {
                if (size_ != 0) std::memmove(data_.get(), data(), size_);
            } else {
                const std::size_t capacity = std::max(size_ + n, capacity_ * 2);
                auto grown = std::make_unique_for_overwrite<std::uint8_t[]>(capacity);
                if (size_ != 0) std::memcpy(grown.get(), data(), size_);
                data_ = std::move(grown);
                capacity_ = capacity;
            }
            begin_ = 0;
        }
        return {data() + size_, n};
    }
    void commit(std::size_t n) noexcept { size_ += std::min(n, capacity_ - begin_ - size_); }
    // Drops bytes from the front without moving the rest: a stored fragment is followed by what has
    // arrived of the next one, and moving that at every fragment was 2% of ingest's time.
    void erase_front(std::size_t n) noexcept {
        n = std::min(n, size_);
        size_ -= n;
        begin_ = size_ == 0 ? 0 : begin_ + n;
    }
    // Keeps the memory: a transport's read may still be writing into prepare()'s space.
    void clear() noexcept { size_ = 0; }

private:
    std::unique_ptr<std::uint8_t[]> data_;
    std::size_t begin_ = 0;  // where the bytes start in data_
    std::size_t size_ = 0;
    std::size_t capacity_ = 0;
};

// The ACK side of a session. Shared with the store's commit callbacks and the tail subscription, which
// may run after the session is gone; the mutex orders RECEIVED before PERSISTED when a commit completes
// before append() has even returned.
struct AckChannel {
    enum class Commit { pending, committed, awaiting_tail };
    struct InFlight {
        std::int64_t timecode_ms = 0;
        Timestamp first_byte;
        bool received_sent = false;
        bool awaiting_tail = false;
        bool committed = false;
        std::error_code commit_error;
    };

    std::mutex mutex;
    AckSink sink;
    std::function<Timestamp()> clock;
    bool persisted_acks = true;
    std::map<FragmentNumber, InFlight> in_flight;
    std::function<void()> drained;  // once, when nothing awaits a commit any more

    // Caller holds `mutex`.
    void erase(std::map<FragmentNumber, InFlight>::iterator it) {
        in_flight.erase(it);
        notify_if_drained();
    }
    void notify_if_drained() {
        if (!drained) return;
        for (const auto& [number, fragment] : in_flight)
            if (fragment.received_sent) return;
        auto callback = std::move(drained);
        drained = nullptr;
        callback();
    }

    // Caller holds `mutex`.
    void send(AckEventType type, std::int64_t timecode_ms, std::string number, Timestamp first_byte,
              std::optional<AckError> error = {}) {
        if (!sink) return;
        Ack ack{type, timecode_ms, std::move(number), error};
        sink(ack, clock() - first_byte);
    }

    void send_now(AckEventType type, std::int64_t timecode_ms, std::string number, Timestamp first_byte,
                  std::optional<AckError> error = {}) {
        std::lock_guard lock(mutex);
        send(type, timecode_ms, std::move(number), first_byte, error);
    }

    // Caller holds `mutex`.
    void deliver_commit(FragmentNumber number, const InFlight& fragment, std::error_code error) {
        if (error) {
            send(AckEventType::error, fragment.timecode_ms, storage::format_fragment_number(number),
                 fragment.first_byte, AckError::archival_error);
        } else if (persisted_acks) {
            send(AckEventType::persisted, fragment.timecode_ms, storage::format_fragment_number(number),
                 fragment.first_byte);
        }
    }

    // From the store's commit thread.
    void on_commit(FragmentNumber number, std::error_code error, std::int64_t timecode_ms,
                   Timestamp first_byte) {
        std::lock_guard lock(mutex);
        auto& fragment = in_flight[number];
        fragment.timecode_ms = timecode_ms;
        fragment.first_byte = first_byte;
        if (!fragment.received_sent) {
            fragment.committed = true;
            fragment.commit_error = error;
            return;
        }
        deliver_commit(number, fragment, error);
        erase(in_flight.find(number));
    }

    void on_received(FragmentNumber number, std::int64_t timecode_ms, Timestamp first_byte, Commit commit) {
        std::lock_guard lock(mutex);
        auto& fragment = in_flight[number];
        fragment.timecode_ms = timecode_ms;
        fragment.first_byte = first_byte;
        fragment.received_sent = true;
        send(AckEventType::received, timecode_ms, storage::format_fragment_number(number), first_byte);
        if (commit == Commit::committed) {
            fragment.committed = true;
            fragment.commit_error = {};
        }
        if (fragment.committed) {
            deliver_commit(number, fragment, fragment.commit_error);
            erase(in_flight.find(number));
        } else if (commit == Commit::awaiting_tail) {
            fragment.awaiting_tail = true;
        }
    }

    // From the tail subscription: a duplicate's original became durable.
    void on_tail(FragmentNumber number) {
        std::lock_guard lock(mutex);
        auto it = in_flight.find(number);
        if (it == in_flight.end() || !it->second.awaiting_tail) return;
        deliver_commit(number, it->second, {});
        erase(it);
    }
};

}  // namespace

class PutMediaSession::Impl final : public media::MkvReaderHandler {
public:
    Impl(storage::FragmentStore& store, PutMediaOptions options, AckSink acks, std::shared_ptr<LiveSink> live)
        : store_(store), options_(std::move(options)), live_(std::move(live)) {
        if (!options_.clock) options_.clock = [] { return Timestamp::now(); };
        channel_ = std::make_shared<AckChannel>();
        channel_->sink = std::move(acks);
        channel_->clock = options_.clock;
        channel_->persisted_acks = options_.persisted_acks;
        session_start_ = options_.clock();
        media::MkvReaderLimits limits;
        // A block larger than a whole fragment may be is refused by the reader before it is buffered.
        limits.max_block_size = options_.max_fragment_bytes + 1;
        reader_ = std::make_unique<media::MkvReader>(*this, limits);
    }

    ~Impl() override { abort(); }

    std::span<std::uint8_t> input_space(std::size_t size) { return buffer_.prepare(size); }

    State commit_input(std::size_t n) {
        if (state_ == State::ended) return state_;
        const std::size_t at = buffer_.size();
        buffer_.commit(n);
        const std::span<const std::uint8_t> bytes(buffer_.data() + at, buffer_.size() - at);
        stats_.bytes += bytes.size();
        now_ = options_.clock();
        media::ParseError parse = reader_->feed(bytes);
        if (parse) fail(map_parse_error(parse), current_timecode_ms());
        if (!failure_ && in_fragment_ && reader_->offset() - fragment_offset_ > options_.max_fragment_bytes) {
            fail(AckError::max_fragment_size_reached, current_timecode_ms());
        }
        // Tags between clusters are the only thing buffered outside a fragment; bound them too.
        if (!failure_ && !in_fragment_ && buffer_.size() > options_.max_fragment_bytes + (4u << 20)) {
            fail(AckError::max_fragment_size_reached, current_timecode_ms());
        }
        if (failure_) {
            end_with_error();
            return state_;
        }
        trim();
        return state_;
    }

    State finish() {
        if (state_ == State::ended) return state_;
        now_ = options_.clock();
        media::ParseError parse = reader_->finish();
        if (parse && parse.code != media::Errc::truncated)
            fail(map_parse_error(parse), current_timecode_ms());
        if (failure_) {
            end_with_error();
            return state_;
        }
        drop_fragment_in_progress();
        state_ = State::ended;
        return state_;
    }

    void abort() {
        if (state_ == State::ended) return;
        drop_fragment_in_progress();
        state_ = State::ended;
    }

    void when_acknowledged(std::function<void()> callback) {
        std::lock_guard lock(channel_->mutex);
        channel_->drained = std::move(callback);
        channel_->notify_if_drained();
    }

    State state() const noexcept { return state_; }
    std::error_code error() const noexcept { return error_; }
    PutMediaStats stats() const noexcept { return stats_; }

    // --- MkvReaderHandler ---------------------------------------------------------------------------

    void on_segment(const media::SegmentHeader& header, std::uint64_t offset) override {
        if (failure_) return;
        if (header.tracks.size() > options_.max_tracks) {
            fail(AckError::more_than_allowed_tracks_found, 0);
            return;
        }
        segment_header_ = header;
        segment_offset_ = offset;
        header_pending_ = true;
        header_end_.reset();
        timecode_scale_ns_ = header.timecode_scale_ns == 0 ? 1'000'000 : header.timecode_scale_ns;
    }

    void on_tags(const std::vector<media::SimpleTag>& /*tags*/, std::uint64_t offset) override {
        // Tags before the first Cluster end the stored header; tags between clusters (KVS fragment
        // metadata) are not part of any fragment's bytes.
        if (header_pending_ && !header_end_) header_end_ = offset;
    }

    void on_fragment_begin(std::uint64_t offset, std::int64_t timecode) override {
        if (failure_) return;
        if (header_pending_ && !store_header(header_end_.value_or(offset))) return;
        if (header_id_ == 0) {
            fail(AckError::invalid_mkv_data, 0);
            return;
        }
        const std::int64_t timecode_ms = ticks_to_ms(timecode, timecode_scale_ns_);
        if (previous_timecode_ && timecode < *previous_timecode_) {
            fail(AckError::fragment_timecode_lesser_than_previous, timecode_ms);
            return;
        }
        auto producer_timestamp = producer_timestamp_of(timecode);
        if (!producer_timestamp) {
            fail(AckError::invalid_producer_timestamp, timecode_ms);
            return;
        }
        in_fragment_ = true;
        fragment_offset_ = offset;
        fragment_timecode_ = timecode;
        fragment_server_timestamp_ = now_;
        fragment_producer_timestamp_ = *producer_timestamp;
        fragment_tracks_.clear();
        channel_->send_now(AckEventType::buffering, timecode_ms, buffering_number(),
                           fragment_server_timestamp_);
        if (live_) {
            live_open_ = true;
            live_->on_live_fragment_begin(LiveFragmentStart{
                live_header_, timecode_scale_ns_, fragment_producer_timestamp_, fragment_server_timestamp_,
                fragment_producer_timestamp_.to_mkv_ticks(timecode_scale_ns_)});
        }
    }

    void on_frame(const media::Frame& frame) override {
        if (failure_ || !in_fragment_) return;
        const media::SegmentHeader* header = reader_->header();
        if (header == nullptr || header->find_track(frame.track) == nullptr) {
            fail(AckError::track_number_mismatch, current_timecode_ms());
            return;
        }
        if (frame.element_offset - fragment_offset_ + frame.payload.size() > options_.max_fragment_bytes) {
            fail(AckError::max_fragment_size_reached, current_timecode_ms());
            return;
        }
        const auto start = Timestamp::from_mkv_ticks(fragment_timecode_, timecode_scale_ns_);
        if (frame.pts - start > options_.max_fragment_duration) {
            fail(AckError::max_fragment_duration_reached, current_timecode_ms());
            return;
        }
        if (std::find(fragment_tracks_.begin(), fragment_tracks_.end(), frame.track) ==
            fragment_tracks_.end()) {
            fragment_tracks_.push_back(frame.track);
        }
        ++stats_.frames;
        if (live_open_) live_->on_live_frame(frame);
    }

    void on_fragment_end(const media::FragmentInfo& fragment) override {
        if (failure_ || !in_fragment_) return;
        in_fragment_ = false;
        last_boundary_ = fragment.offset + fragment.size;
        previous_timecode_ = fragment.timecode;
        const std::int64_t timecode_ms = ticks_to_ms(fragment.timecode, timecode_scale_ns_);
        if (fragment.size > options_.max_fragment_bytes) {
            fail(AckError::max_fragment_size_reached, timecode_ms);
            return;
        }
        if (fragment.duration > options_.max_fragment_duration) {
            fail(AckError::max_fragment_duration_reached, timecode_ms);
            return;
        }
        if (fragment.offset < buffer_base_ ||
            fragment.offset + fragment.size > buffer_base_ + buffer_.size()) {
            fail(AckError::internal_error, timecode_ms);  // the reader and the buffer disagree: a bug
            return;
        }
        std::span<const std::uint8_t> bytes(buffer_.data() + (fragment.offset - buffer_base_), fragment.size);
        store_fragment(bytes, fragment, timecode_ms);
    }

private:
    static AckError map_parse_error(const media::ParseError& error) {
        if (error.code == media::Errc::unknown_track) return AckError::track_number_mismatch;
        if (error.code == media::Errc::timecode_went_backwards)
            return AckError::fragment_timecode_lesser_than_previous;
        if (error.code == media::Errc::element_too_large) return AckError::max_fragment_size_reached;
        return AckError::invalid_mkv_data;
    }

    std::int64_t current_timecode_ms() const {
        if (in_fragment_) return ticks_to_ms(fragment_timecode_, timecode_scale_ns_);
        return previous_timecode_ ? ticks_to_ms(*previous_timecode_, timecode_scale_ns_) : 0;
    }

    std::optional<Timestamp> producer_timestamp_of(std::int64_t timecode) const {
        // Reject what would overflow int64 nanoseconds, and times before the epoch.
        std::int64_t ns = 0;
        if (timecode_scale_ns_ > static_cast<std::uint64_t>(std::numeric_limits<std::int64_t>::max()) ||
            __builtin_mul_overflow(timecode, static_cast<std::int64_t>(timecode_scale_ns_), &ns) || ns < 0 ||
            ns > std::numeric_limits<std::int64_t>::max() / 2) {
            return std::nullopt;
        }
        auto relative = Timestamp::from_nanoseconds(ns);
        if (options_.absolute_timecodes) return relative;
        const Timestamp start = options_.producer_start.value_or(session_start_);
        if (start.nanoseconds() < 0 || start.nanoseconds() > std::numeric_limits<std::int64_t>::max() / 2) {
            return std::nullopt;
        }
        return start + media::Duration(relative.nanoseconds());
    }

    // BUFFERING's FragmentNumber. A recent fragment with this producer timestamp is most likely the one a
    // reconnecting producer is replaying: its number (RECEIVED confirms it by the content). Otherwise the
    // number the store keeps for the next append (this stream's only writer), which is the one RECEIVED
    // will carry. "" if the store cannot tell (the stream went away: the append fails and says so).
    std::string buffering_number() {
        if (auto original = store_.find_recent(options_.stream, fragment_producer_timestamp_))
            return storage::format_fragment_number(*original);
        FragmentNumber next = 0;
        if (store_.next_fragment_number(options_.stream, next)) return {};
        return storage::format_fragment_number(next);
    }

    bool store_header(std::uint64_t end) {
        header_pending_ = false;
        if (segment_offset_ < buffer_base_ || end > buffer_base_ + buffer_.size() || end < segment_offset_) {
            fail(AckError::internal_error, 0);
            return false;
        }
        std::span<const std::uint8_t> raw(buffer_.data() + (segment_offset_ - buffer_base_),
                                          end - segment_offset_);
        auto normalized = normalize_stream_header(raw);
        Bytes canonical;
        std::span<const std::uint8_t> stored = raw;
        if (!normalized) {
            // Headers our scanner cannot step over (unknown-size Info or Tracks) are stored as Kinema's
            // own rendering of what the reader parsed, so every stored header can be re-emitted.
            media::mkv::write_stream_header(segment_header_, canonical);
            normalized = normalize_stream_header(canonical);
            stored = canonical;
            if (!normalized) {
                fail(AckError::internal_error, 0);
                return false;
            }
        }
        storage::HeaderId id = 0;
        if (auto ec = store_.put_header(options_.stream, stored, id)) {
            fail(storage_failure(ec), 0);
            return false;
        }
        header_id_ = id;
        live_header_ = std::make_shared<const Bytes>(std::move(normalized->bytes));
        return true;
    }

    static AckError storage_failure(std::error_code ec) {
        if (ec == storage::Errc::resource_not_found || ec == storage::Errc::invalid_argument) {
            return AckError::stream_not_active;
        }
        return AckError::archival_error;
    }

    void store_fragment(std::span<const std::uint8_t> bytes, const media::FragmentInfo& fragment,
                        std::int64_t timecode_ms) {
        const Timestamp first_byte = fragment_server_timestamp_;
        if (auto original = store_.find_duplicate(options_.stream, fragment_producer_timestamp_, bytes)) {
            ++stats_.fragments_duplicate;
            acknowledge_duplicate(*original, timecode_ms, first_byte);
            end_live(storage::format_fragment_number(*original));
            return;
        }
        storage::FragmentMetadata metadata;
        metadata.producer_timestamp = fragment_producer_timestamp_;
        metadata.server_timestamp = fragment_server_timestamp_;
        metadata.duration = fragment.duration;
        metadata.frame_count = fragment.frames;
        metadata.track_numbers.assign(fragment_tracks_.begin(), fragment_tracks_.end());
        std::sort(metadata.track_numbers.begin(), metadata.track_numbers.end());
        metadata.key_frame_offsets = fragment.key_frame_offsets;
        metadata.header_id = header_id_;

        // The callback holds the channel: PERSISTED still goes out after the session has ended.
        storage::FragmentNumber number = 0;
        auto ec = store_.append(
            options_.stream, bytes, metadata, number,
            [channel = channel_, timecode_ms, first_byte](FragmentNumber n, std::error_code error) {
                channel->on_commit(n, error, timecode_ms, first_byte);
            });
        if (ec) {
            ++stats_.fragments_dropped;
            end_live("");
            AckError failure = storage_failure(ec);
            if (failure == AckError::stream_not_active) {
                fail(failure, timecode_ms);
                return;
            }
            channel_->send_now(AckEventType::error, timecode_ms, "", first_byte, failure);
            return;
        }
        ++stats_.fragments_stored;
        channel_->on_received(number, timecode_ms, first_byte, AckChannel::Commit::pending);
        end_live(storage::format_fragment_number(number));
    }

    void acknowledge_duplicate(FragmentNumber original, std::int64_t timecode_ms, Timestamp first_byte) {
        storage::FragmentInfo info;
        if (!store_.get_info(options_.stream, original, info)) {
            channel_->on_received(original, timecode_ms, first_byte, AckChannel::Commit::committed);
            return;
        }
        // The original is still pending in the store (its session was cut before PERSISTED): follow the
        // tail so PERSISTED goes out when it commits. Subscribe first, then look again, so no commit is
        // missed between the two.
        if (!tail_) {
            std::weak_ptr<AckChannel> channel = channel_;
            store_.follow(
                options_.stream,
                [channel](const storage::FragmentInfo& committed) {
                    if (auto c = channel.lock()) c->on_tail(committed.number);
                },
                tail_);
        }
        channel_->on_received(original, timecode_ms, first_byte, AckChannel::Commit::awaiting_tail);
        if (!store_.get_info(options_.stream, original, info)) channel_->on_tail(original);
    }

    void end_live(const std::string& fragment_number) {
        if (!live_open_) return;
        live_open_ = false;
        live_->on_live_fragment_end(fragment_number);
    }

    void drop_fragment_in_progress() {
        if (in_fragment_) ++stats_.fragments_dropped;
        in_fragment_ = false;
        end_live("");
        buffer_.clear();
    }

    void fail(AckError error, std::int64_t timecode_ms) {
        if (failure_) return;
        failure_ = error;
        failure_timecode_ms_ = timecode_ms;
    }

    void end_with_error() {
        channel_->send_now(AckEventType::error, failure_timecode_ms_, "",
                           in_fragment_ ? fragment_server_timestamp_ : now_, *failure_);
        error_ = *failure_;
        drop_fragment_in_progress();
        state_ = State::ended;
    }

    // Drops buffered bytes nothing can refer to any more.
    void trim() {
        std::uint64_t keep_from =
            in_fragment_ ? fragment_offset_ : (header_pending_ ? segment_offset_ : last_boundary_);
        if (keep_from <= buffer_base_) return;
        std::uint64_t drop = std::min<std::uint64_t>(keep_from - buffer_base_, buffer_.size());
        buffer_.erase_front(drop);
        buffer_base_ += drop;
    }

    storage::FragmentStore& store_;
    PutMediaOptions options_;
    std::shared_ptr<LiveSink> live_;
    std::shared_ptr<AckChannel> channel_;
    std::unique_ptr<media::MkvReader> reader_;
    storage::TailSubscription tail_;

    State state_ = State::active;
    std::optional<AckError> failure_;
    std::int64_t failure_timecode_ms_ = 0;
    std::error_code error_;
    PutMediaStats stats_;
    Timestamp session_start_;
    Timestamp now_;

    // Input bytes from buffer_base_ on: the fragment in progress, or the header being read.
    InputBuffer buffer_;
    std::uint64_t buffer_base_ = 0;
    std::uint64_t last_boundary_ = 0;

    media::SegmentHeader segment_header_;
    std::uint64_t segment_offset_ = 0;
    bool header_pending_ = false;
    std::optional<std::uint64_t> header_end_;
    storage::HeaderId header_id_ = 0;
    std::shared_ptr<const Bytes> live_header_;
    std::uint64_t timecode_scale_ns_ = 1'000'000;

    bool in_fragment_ = false;
    bool live_open_ = false;
    std::uint64_t fragment_offset_ = 0;
    std::int64_t fragment_timecode_ = 0;
    Timestamp fragment_server_timestamp_;
    Timestamp fragment_producer_timestamp_;
    std::vector<std::uint64_t> fragment_tracks_;
    std::optional<std::int64_t> previous_timecode_;
};

PutMediaSession::PutMediaSession(storage::FragmentStore& store, PutMediaOptions options, AckSink acks,
                                 std::shared_ptr<LiveSink> live)
    : impl_(std::make_unique<Impl>(store, std::move(options), std::move(acks), std::move(live))) {}
PutMediaSession::~PutMediaSession() = default;
PutMediaSession::State PutMediaSession::feed(std::span<const std::uint8_t> bytes) {
    if (impl_->state() == State::ended) return State::ended;
    const auto space = impl_->input_space(bytes.size());
    if (!bytes.empty()) std::memcpy(space.data(), bytes.data(), bytes.size());
    return impl_->commit_input(bytes.size());
}
std::span<std::uint8_t> PutMediaSession::input_space(std::size_t size) {
    return impl_->input_space(size);
}
PutMediaSession::State PutMediaSession::commit_input(std::size_t n) {
    return impl_->commit_input(n);
}
PutMediaSession::State PutMediaSession::finish() {
    return impl_->finish();
}
void PutMediaSession::abort() {
    impl_->abort();
}
void PutMediaSession::when_acknowledged(std::function<void()> callback) {
    impl_->when_acknowledged(std::move(callback));
}
PutMediaSession::State PutMediaSession::state() const noexcept {
    return impl_->state();
}
std::error_code PutMediaSession::error() const noexcept {
    return impl_->error();
}
PutMediaStats PutMediaSession::stats() const noexcept {
    return impl_->stats();
}

}  // namespace kinema::server
