// What a PutMedia session tells the live fan-out while it parses, before fragments are complete: the
// interface between ingest (put_media_session) and the per-stream hub (live_hub). Calls come from the
// producer's session, in stream order, one fragment at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include <kinema/media/mkv_types.h>
#include <kinema/media/timestamp.h>

namespace kinema::server {

struct LiveFragmentStart {
    // The stream header viewers need in front of this fragment (normalised; see stream_header.h).
    std::shared_ptr<const std::vector<std::uint8_t>> stream_header;
    std::uint64_t timecode_scale_ns = 1'000'000;
    media::Timestamp producer_timestamp;
    media::Timestamp server_timestamp;
    // The Cluster Timecode viewers get: the producer timestamp in stream ticks (absolute even when the
    // producer sent RELATIVE timecodes).
    std::int64_t cluster_timecode = 0;
};

class LiveSink {
public:
    virtual ~LiveSink() = default;
    virtual void on_live_fragment_begin(const LiveFragmentStart& start) = 0;
    // `frame.payload` is valid only during the call; `frame.relative_timecode` is relative to the cluster.
    virtual void on_live_frame(const media::Frame& frame) = 0;
    // The fragment is complete and stored as `fragment_number` (KVS decimal string), or was dropped
    // (`fragment_number` empty: disconnect mid-fragment, or an error).
    virtual void on_live_fragment_end(const std::string& fragment_number) = 0;
};

}  // namespace kinema::server
