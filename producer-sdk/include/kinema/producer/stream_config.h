// Everything a Stream is configured with. Defaults follow the KVS producer SDK (buffer 120 s, replay 40 s,
// storage 128 MiB, fragments of 2 s) where they apply; docs/buffering.md explains how they interact.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

namespace kinema::producer {

using Duration = std::chrono::nanoseconds;

struct StreamConfig {
    // ws://host[:port] or wss://host[:port]; PutMedia is GET <endpoint>/putMedia.
    std::string endpoint;
    std::string stream_name;  // [a-zA-Z0-9_.-], 1-256 characters
    // wss:// only: a PEM file of trusted CAs; empty uses the system's default store.
    std::string ca_path;
    // Non-empty: no network. The MKV byte stream this stream would send (same header, clusters and tags)
    // goes to this file, created or truncated; each fragment counts as PERSISTED once written and synced.
    // endpoint and create_if_missing are then ignored.
    std::string output_file;

    // POST /createStream before streaming; an existing stream (ResourceInUseException) is fine.
    bool create_if_missing = false;
    // The stream's DataRetentionInHours. 0 means the server keeps nothing durable, so a fragment is done
    // when it is RECEIVED instead of PERSISTED.
    std::uint32_t retention_hours = 2;
    // Tags of the stream (CreateStream "Tags"), used only when create_if_missing creates it.
    std::vector<std::pair<std::string, std::string>> stream_tags;

    // Fragmenting. key_frame_fragmentation: every key frame starts a fragment; otherwise a key frame starts
    // one once the current fragment is at least fragment_duration long.
    bool key_frame_fragmentation = true;
    Duration fragment_duration = std::chrono::seconds(2);
    // Cluster timecodes: absolute (epoch-based frame times) or relative to the first frame, as KVS's
    // x-amzn-fragment-timecode-type ABSOLUTE|RELATIVE.
    bool absolute_fragment_times = true;

    // Content buffer bounds: frames stay until acknowledged; when either bound is hit, whole oldest
    // fragments are dropped.
    Duration buffer_duration = std::chrono::seconds(120);
    std::size_t storage_size = 128u * 1024u * 1024u;  // bytes
    // On reconnect, fragments older than this (measured back from the newest frame) are not resent.
    Duration replay_duration = std::chrono::seconds(40);
    // No ACK for this long while a sent fragment waits for one: the connection is stale, reconnect.
    Duration connection_staleness = std::chrono::seconds(30);
    // on_latency_pressure fires when data waiting to be sent is older than this.
    Duration max_latency = std::chrono::seconds(60);

    // put_frame waits at most this long for ACKs to make room before it drops old fragments.
    Duration max_put_frame_wait = std::chrono::milliseconds(0);
    // Offline mode: put_frame waits (without bound, until stop) for room instead of dropping fragments.
    bool offline_mode = false;

    // Reconnect: exponential backoff from min to max, each delay jittered to 50-100 % of its value.
    Duration reconnect_min_backoff = std::chrono::milliseconds(100);
    Duration reconnect_max_backoff = std::chrono::seconds(10);
    // TCP/TLS/WebSocket connect timeout.
    Duration connect_timeout = std::chrono::seconds(10);

    // Track. codec_private is the avcC; empty learns it from the first SPS/PPS in the frames.
    std::vector<std::uint8_t> codec_private;
    std::string track_name = "kinema_video";
    // Frame rate hint, used for the track's DefaultDuration (0: not written).
    std::uint32_t frame_rate = 0;
};

}  // namespace kinema::producer
