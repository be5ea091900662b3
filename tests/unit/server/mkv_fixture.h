// Test streams for the server's media units: small KVS-shaped MKV byte streams with known cluster bytes.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <kinema/media/mkv_writer.h>

namespace kinema::server::test {

using Bytes = std::vector<std::uint8_t>;

struct ClusterSpec {
    std::int64_t timecode = 0;  // ms (TimecodeScale 1 ms)
    int frames = 3;             // the first is a key frame
    std::int64_t frame_interval_ms = 40;
    std::uint64_t track = 1;
    std::size_t payload_bytes = 100;
};

struct TestStream {
    Bytes bytes;
    Bytes header;                 // EBML header .. Tracks
    std::vector<Bytes> clusters;  // each cluster's exact bytes
};

inline media::SegmentHeader video_header(std::size_t tracks = 1) {
    media::SegmentHeader header;
    for (std::size_t i = 0; i < tracks; ++i) {
        media::TrackInfo track;
        track.number = i + 1;
        track.uid = i + 1;
        track.codec_id = std::string(media::kCodecH264);
        track.codec_private = {1, 0x42, 0xC0, 0x1E, 0xFF, 0xE0, 0x00};
        track.pixel_width = 320;
        track.pixel_height = 240;
        header.tracks.push_back(track);
    }
    return header;
}

inline Bytes payload_for(std::int64_t timecode, int frame, std::size_t size) {
    Bytes payload(size);
    for (std::size_t i = 0; i < size; ++i)
        payload[i] =
            static_cast<std::uint8_t>((timecode * 7 + frame * 13 + static_cast<std::int64_t>(i)) & 0xFF);
    return payload;
}

inline TestStream make_stream(const std::vector<ClusterSpec>& clusters, std::size_t tracks = 1) {
    TestStream stream;
    media::mkv::write_stream_header(video_header(tracks), stream.header);
    stream.bytes = stream.header;
    for (const auto& spec : clusters) {
        Bytes cluster;
        media::mkv::write_cluster_start(spec.timecode, cluster);
        for (int f = 0; f < spec.frames; ++f) {
            Bytes payload = payload_for(spec.timecode, f, spec.payload_bytes);
            (void)media::mkv::write_simple_block(spec.track, f * spec.frame_interval_ms, f == 0, payload,
                                                 cluster);
        }
        stream.bytes.insert(stream.bytes.end(), cluster.begin(), cluster.end());
        stream.clusters.push_back(std::move(cluster));
    }
    return stream;
}

}  // namespace kinema::server::test
