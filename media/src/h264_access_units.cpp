#include "kinema/media/h264_access_units.h"

#include <algorithm>

#include "kinema/media/h264.h"

namespace kinema::media::h264 {
namespace {

constexpr std::size_t kNotFound = static_cast<std::size_t>(-1);

// Offset of the next 00 00 01 at or after `from`, or kNotFound.
std::size_t find_start_code(std::span<const std::uint8_t> data, std::size_t from) {
    for (std::size_t i = from; i + 2 < data.size(); ++i) {
        if (data[i + 2] > 1) {
            i += 2;  // no start code can end here or in the next two positions
            continue;
        }
        if (data[i] == 0 && data[i + 1] == 0 && data[i + 2] == 1) return i;
    }
    return kNotFound;
}

bool is_slice(NalType t) {
    return t == NalType::slice || t == NalType::idr;
}

}  // namespace

void AccessUnitSplitter::feed(std::span<const std::uint8_t> bytes) {
    pending_.insert(pending_.end(), bytes.begin(), bytes.end());
    std::span<const std::uint8_t> data(pending_);
    std::size_t first = find_start_code(data, 0);
    if (first == kNotFound) return;
    std::size_t consumed = first;
    // A NAL is complete once the next start code is seen.
    for (;;) {
        std::size_t begin = consumed + 3;
        std::size_t next = find_start_code(data, begin);
        if (next == kNotFound) break;
        std::size_t end = next;
        while (end > begin && data[end - 1] == 0)
            --end;  // trailing zeros belong to the next start code
        take_nal(data.subspan(begin, end - begin));
        consumed = next;
    }
    pending_.erase(pending_.begin(), pending_.begin() + static_cast<std::ptrdiff_t>(consumed));
}

void AccessUnitSplitter::finish() {
    std::span<const std::uint8_t> data(pending_);
    std::size_t first = find_start_code(data, 0);
    if (first != kNotFound) {
        std::size_t begin = first + 3;
        std::size_t end = data.size();
        while (end > begin && data[end - 1] == 0)
            --end;
        take_nal(data.subspan(begin, end - begin));
    }
    pending_.clear();
    close_unit();
}

std::optional<AccessUnit> AccessUnitSplitter::next() {
    if (ready_head_ == ready_.size()) {
        ready_.clear();
        ready_head_ = 0;
        return std::nullopt;
    }
    return std::move(ready_[ready_head_++]);
}

void AccessUnitSplitter::take_nal(std::span<const std::uint8_t> nal) {
    if (nal.empty()) return;
    NalType type = nal_type(nal);
    bool starts_unit = false;
    if (current_has_slice_) {
        switch (type) {
            case NalType::aud:
            case NalType::sps:
            case NalType::pps:
            case NalType::sei:
                starts_unit = true;
                break;
            case NalType::slice:
            case NalType::idr:
                // first_mb_in_slice is ue(v); a leading 1 bit means 0, the first slice of a picture.
                starts_unit = nal.size() > 1 && (nal[1] & 0x80) != 0;
                break;
            default:
                break;
        }
    }
    if (starts_unit) close_unit();
    static constexpr std::uint8_t kStartCode[4] = {0, 0, 0, 1};
    current_.annexb.insert(current_.annexb.end(), std::begin(kStartCode), std::end(kStartCode));
    current_.annexb.insert(current_.annexb.end(), nal.begin(), nal.end());
    if (is_slice(type)) current_has_slice_ = true;
    if (type == NalType::idr) current_.key = true;
    if (type == NalType::sps) has_sps_ = true;
    if (type == NalType::pps) has_pps_ = true;
}

void AccessUnitSplitter::close_unit() {
    if (current_has_slice_) {
        current_.has_parameter_sets = has_sps_ && has_pps_;
        ready_.push_back(std::move(current_));
    }
    current_ = AccessUnit{};
    current_has_slice_ = false;
    has_sps_ = has_pps_ = false;
}

}  // namespace kinema::media::h264
