// The bytes GetMedia (and GetMediaForFragmentList) send, KVS-shaped:
//
//   per fragment (OutputMode::kvs):
//     EBML header + Segment (unknown size) + Info + Tracks     the stored stream header, normalised
//     Tags{AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_TIMESTAMP, _PRODUCER_TIMESTAMP ("sec.mmm")}
//     Cluster                                                  the stored bytes, Timecode rewritten
//     Tags{AWS_KINESISVIDEO_MILLIS_BEHIND_NOW, _CONTINUATION_TOKEN}
//
//   OutputMode::continuous (Kinema's option): the stream header once (again only when it changes), then
//     clusters only: one playable MKV that ffmpeg, GStreamer and VLC play as a file.
//
// Cluster timecodes: a producer using RELATIVE timecodes sends cluster timecodes relative to its
// session's start, so two sessions restart at 0. Every Cluster that goes out carries its producer
// timestamp in the stream's ticks instead (for ABSOLUTE producers that is the stored value unchanged),
// so consecutive sessions play in order. Block timecodes are relative to their cluster and stay as stored.
//
// Live fragments go out before they are complete and before they have a number: their first Tags carry
// the timestamps only, and the fragment number comes in the closing Tags with the continuation token.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <span>
#include <string>
#include <system_error>
#include <vector>

#include <kinema/media/timestamp.h>
#include <kinema/storage/fragment_store.h>

#include "live_sink.h"
#include "stream_header.h"

namespace kinema::server {

namespace kvs_tag {
inline constexpr const char* kFragmentNumber = "AWS_KINESISVIDEO_FRAGMENT_NUMBER";
inline constexpr const char* kServerTimestamp = "AWS_KINESISVIDEO_SERVER_TIMESTAMP";
inline constexpr const char* kProducerTimestamp = "AWS_KINESISVIDEO_PRODUCER_TIMESTAMP";
inline constexpr const char* kMillisBehindNow = "AWS_KINESISVIDEO_MILLIS_BEHIND_NOW";
inline constexpr const char* kContinuationToken = "AWS_KINESISVIDEO_CONTINUATION_TOKEN";
inline constexpr const char* kErrorCode = "AWS_KINESISVIDEO_ERROR_CODE";
inline constexpr const char* kErrorId = "AWS_KINESISVIDEO_ERROR_ID";
// GetMediaForFragmentList's names.
inline constexpr const char* kServerSideTimestamp = "AWS_KINESISVIDEO_SERVER_SIDE_TIMESTAMP";
inline constexpr const char* kProducerSideTimestamp = "AWS_KINESISVIDEO_PRODUCER_SIDE_TIMESTAMP";
}  // namespace kvs_tag

// Writes `cluster` (a stored Cluster element) with its Timecode replaced by `timecode` ticks; every other
// child is copied as stored. False (nothing written) when `cluster` is not a Cluster with a Timecode.
bool write_cluster_with_timecode(std::span<const std::uint8_t> cluster, std::int64_t timecode, Bytes& out);

enum class OutputMode { kvs, continuous };
enum class TagStyle { get_media, fragment_list };

class GetMediaWriter {
public:
    explicit GetMediaWriter(OutputMode mode, TagStyle style = TagStyle::get_media)
        : mode_(mode), style_(style) {}

    OutputMode mode() const noexcept { return mode_; }

    // A whole stored fragment. False when its cluster bytes cannot be re-emitted (nothing written).
    bool write_fragment(const StreamHeader& header, const storage::Fragment& fragment, media::Timestamp now,
                        Bytes& out);

    // A live fragment, as the hub hands it out: its start (header, tags, Cluster start) ...
    void write_live_fragment_begin(const LiveFragmentStart& start, Bytes& out);
    // ... its frames are the hub's shared SimpleBlock bytes, sent as they are ...
    // ... and its end: the closing Tags with the number and continuation token (none when dropped).
    void write_live_fragment_end(const std::string& fragment_number, media::Timestamp server_timestamp,
                                 media::Timestamp now, Bytes& out);

    // Tags AWS_KINESISVIDEO_ERROR_CODE / _ERROR_ID: why the output stops.
    void write_error(const std::string& code, int id, Bytes& out);

private:
    void write_header_if_needed(std::span<const std::uint8_t> header, Bytes& out);

    OutputMode mode_;
    TagStyle style_;
    Bytes last_header_;  // continuous mode: the header last written
};

// Stored headers of one stream by id, normalised once per request.
class StreamHeaderCache {
public:
    std::error_code get(const storage::FragmentStore& store, const std::string& stream, storage::HeaderId id,
                        std::shared_ptr<const StreamHeader>& header);

private:
    std::map<storage::HeaderId, std::shared_ptr<const StreamHeader>> headers_;
};

}  // namespace kinema::server
