#include "content_buffer.h"

#include <algorithm>
#include <cstring>

namespace kinema::producer {

void ContentBuffer::open_fragment(std::int64_t timecode, Timestamp start) {
    if (has_open_fragment()) close_fragment();
    BufferedFragment f;
    f.sequence = next_sequence_++;
    f.timecode = timecode;
    f.start = start;
    f.last_pts = start;
    // Fragments of one stream have similar sizes; reserving a little more than the last one avoids most
    // reallocations (and their copies) while the fragment grows.
    f.bytes.reserve(last_fragment_size_ + last_fragment_size_ / 8);
    fragments_.push_back(std::move(f));
}

void ContentBuffer::append(std::span<const std::uint8_t> bytes, Timestamp pts, bool frame) {
    if (!has_open_fragment()) return;
    BufferedFragment& f = fragments_.back();
    f.bytes.insert(f.bytes.end(), bytes.begin(), bytes.end());
    bytes_ += bytes.size();
    if (frame) {
        ++f.frames;
        f.last_pts = std::max(f.last_pts, pts);
        newest_pts_ = newest_pts_ ? std::max(*newest_pts_, pts) : pts;
    }
}

void ContentBuffer::close_fragment() {
    if (!has_open_fragment()) return;
    fragments_.back().closed = true;
    last_fragment_size_ = fragments_.back().bytes.size();
    pop_done();
}

bool ContentBuffer::fits(std::size_t bytes, Timestamp pts) const {
    if (bytes_ + bytes > limits_.max_bytes) return false;
    return fragments_.empty() || pts - fragments_.front().start <= limits_.max_duration;
}

bool ContentBuffer::make_room(std::size_t bytes, Timestamp pts, std::vector<DroppedFragment>& dropped) {
    while (!fits(bytes, pts) && !fragments_.empty() && fragments_.front().closed)
        dropped.push_back(drop_front(DropReason::buffer_full));
    // Only the byte bound is hard: a single open fragment longer than buffer_duration keeps growing
    // (the fragmenter bounds fragments by the int16 block timecode limit).
    return bytes_ + bytes <= limits_.max_bytes;
}

void ContentBuffer::start_session(Duration replay, std::vector<DroppedFragment>& dropped) {
    session_active_ = false;
    session_broken_ = false;
    pop_done();
    if (newest_pts_) {
        while (!fragments_.empty() && fragments_.front().closed &&
               *newest_pts_ - fragments_.front().start > replay)
            dropped.push_back(drop_front(DropReason::replay_window));
    }
    for (auto& f : fragments_)
        f.sent_at.reset();
    cursor_sequence_ = fragments_.empty() ? next_sequence_ : fragments_.front().sequence;
    cursor_offset_ = 0;
    header_sent_ = 0;
    session_active_ = true;
}

std::size_t ContentBuffer::next_chunk(std::uint8_t* dst, std::size_t max, SteadyTime now) {
    if (!session_active_ || header_.empty()) return 0;
    std::size_t n = 0;
    if (header_sent_ < header_.size()) {
        const std::size_t take = std::min(max, header_.size() - header_sent_);
        std::memcpy(dst, header_.data() + header_sent_, take);
        header_sent_ += take;
        n += take;
    }
    while (n < max) {
        if (!fragments_.empty() && cursor_sequence_ < fragments_.front().sequence) {
            cursor_sequence_ = fragments_.front().sequence;
            cursor_offset_ = 0;
        }
        BufferedFragment* f = find(cursor_sequence_);
        if (f == nullptr) break;
        if (cursor_offset_ == 0 && f->closed && is_done(*f)) {
            ++cursor_sequence_;  // acknowledged in an earlier session: the server has it
            continue;
        }
        const std::size_t take = std::min(max - n, f->bytes.size() - cursor_offset_);
        if (take > 0) {
            std::memcpy(dst + n, f->bytes.data() + cursor_offset_, take);
            cursor_offset_ += take;
            n += take;
            f->sent_any = true;
        }
        if (cursor_offset_ < f->bytes.size() || !f->closed) break;
        if (!f->sent_at) f->sent_at = now;
        ++cursor_sequence_;
        cursor_offset_ = 0;
    }
    return n;
}

bool ContentBuffer::has_unsent() const {
    if (!session_active_ || header_.empty()) return false;
    if (header_sent_ < header_.size()) return true;
    if (fragments_.empty()) return false;
    if (cursor_sequence_ < fragments_.front().sequence) return true;
    if (cursor_sequence_ < fragments_.back().sequence) return true;
    if (cursor_sequence_ > fragments_.back().sequence) return false;
    return cursor_offset_ < fragments_.back().bytes.size();
}

bool ContentBuffer::apply_ack(AckType type, std::int64_t timecode, std::vector<DroppedFragment>& dropped) {
    FragmentState next = FragmentState::pending;
    switch (type) {
        case AckType::buffering:
            next = FragmentState::buffering;
            break;
        case AckType::received:
            next = FragmentState::received;
            break;
        case AckType::persisted:
            next = FragmentState::persisted;
            break;
        case AckType::error:
            next = FragmentState::rejected;
            break;
        case AckType::idle:
            return false;
    }
    for (auto& f : fragments_) {
        if (f.timecode != timecode || is_done(f)) continue;
        f.state = std::max(f.state, next);
        if (next == FragmentState::rejected) {
            // Kept in place (sequences stay contiguous) but done: skipped by sends, freed from the front.
            dropped.push_back(DroppedFragment{f.timecode, f.start, f.frames, f.bytes.size(), f.sent_any,
                                              DropReason::rejected_by_server});
        }
        pop_done();
        return true;
    }
    return false;
}

std::optional<SteadyTime> ContentBuffer::oldest_awaiting_ack() const {
    for (const auto& f : fragments_)
        if (!is_done(f) && f.sent_at) return f.sent_at;
    return std::nullopt;
}

Duration ContentBuffer::duration() const {
    if (fragments_.empty() || !newest_pts_) return Duration{0};
    return std::max(Duration{0}, *newest_pts_ - fragments_.front().start);
}

Duration ContentBuffer::unsent_age() const {
    if (fragments_.empty() || !newest_pts_) return Duration{0};
    const BufferedFragment* oldest = nullptr;
    if (!session_active_) {
        for (const auto& f : fragments_)
            if (!is_done(f)) {
                oldest = &f;
                break;
            }
    } else {
        for (const auto& f : fragments_) {
            if (f.sequence < cursor_sequence_) continue;
            if (f.sequence == cursor_sequence_ && cursor_offset_ >= f.bytes.size()) continue;
            oldest = &f;
            break;
        }
    }
    if (oldest == nullptr) return Duration{0};
    return std::max(Duration{0}, *newest_pts_ - oldest->start);
}

StopReport ContentBuffer::unacknowledged() const {
    StopReport report;
    for (const auto& f : fragments_) {
        if (is_done(f)) continue;
        ++report.unacknowledged_fragments;
        report.unacknowledged_frames += f.frames;
        report.unacknowledged_bytes += f.bytes.size();
        report.unacknowledged_timecodes.push_back(f.timecode);
    }
    report.all_acknowledged = report.unacknowledged_fragments == 0;
    return report;
}

bool ContentBuffer::is_done(const BufferedFragment& f) const noexcept {
    return f.state == FragmentState::persisted || f.state == FragmentState::rejected ||
           (limits_.done_on_received && f.state == FragmentState::received);
}

void ContentBuffer::pop_done() {
    while (!fragments_.empty() && fragments_.front().closed && is_done(fragments_.front())) {
        const BufferedFragment& f = fragments_.front();
        // Never pull a fragment from under a send in progress: the rest of its bytes still have to go out.
        if (session_active_ && f.sequence == cursor_sequence_ && cursor_offset_ > 0 &&
            cursor_offset_ < f.bytes.size())
            break;
        bytes_ -= f.bytes.size();
        if (cursor_sequence_ == f.sequence) {
            ++cursor_sequence_;
            cursor_offset_ = 0;
        }
        fragments_.pop_front();
    }
}

DroppedFragment ContentBuffer::drop_front(DropReason reason) {
    BufferedFragment& f = fragments_.front();
    if (session_active_ && f.sequence == cursor_sequence_ && cursor_offset_ > 0 &&
        cursor_offset_ < f.bytes.size()) {
        session_broken_ = true;
        session_active_ = false;
    }
    DroppedFragment d{f.timecode, f.start, f.frames, f.bytes.size(), f.sent_any, reason};
    bytes_ -= f.bytes.size();
    if (cursor_sequence_ == f.sequence) {
        ++cursor_sequence_;
        cursor_offset_ = 0;
    }
    fragments_.pop_front();
    return d;
}

BufferedFragment* ContentBuffer::find(std::uint64_t sequence) {
    if (fragments_.empty()) return nullptr;
    const std::uint64_t first = fragments_.front().sequence;
    if (sequence < first || sequence - first >= fragments_.size()) return nullptr;
    return &fragments_[static_cast<std::size_t>(sequence - first)];
}

}  // namespace kinema::producer
