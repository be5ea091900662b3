// The ingest state machine of one PutMedia producer session, independent of the transport (WebSocket or
// chunked HTTP): MKV bytes in, in any split; fragments stored; KVS ACKs out.
//
// Per Cluster (one fragment): BUFFERING once its Timecode is read (with the number the fragment will be
// stored under, FragmentStore::next_fragment_number, or the original's for a likely replay), RECEIVED once
// it is complete and appended to the FragmentStore (with its number), PERSISTED once the store has made it
// durable (never for retention-0 streams, as KVS). An error sends one ERROR ACK; errors the producer caused
// end the session (feed() returns ended) and drop the fragment in progress; ARCHIVAL_ERROR (5001, storage
// failed) fails that fragment only. A fragment already stored by an earlier session of the same producer
// (same producer timestamp and bytes) is acknowledged again with its original number and not stored twice.
//
// Threading: feed()/finish()/abort() on one thread at a time (the session's strand). The AckSink is
// called on that thread, and also on the store's commit thread (PERSISTED, and errors of the commit),
// possibly after the session is destroyed: it must be thread-safe and hold what it needs (weak_ptr to the
// connection). ACKs of one fragment are always delivered in order BUFFERING, RECEIVED, PERSISTED.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <span>
#include <string>

#include <kinema/media/timestamp.h>
#include <kinema/storage/fragment_store.h>

#include "ack.h"
#include "live_sink.h"

namespace kinema::server {

struct PutMediaOptions {
    std::string stream;  // the FragmentStore's stream key
    // x-amzn-fragment-timecode-type: ABSOLUTE (cluster timecodes are epoch times) or RELATIVE (to
    // producer_start).
    bool absolute_timecodes = true;
    // x-amzn-producer-start-timestamp; for RELATIVE without it, the session's start on the server clock.
    std::optional<media::Timestamp> producer_start;
    // false for retention-0 streams: the store's commit means "in the memory window", no PERSISTED.
    bool persisted_acks = true;
    // KVS quotas.
    std::uint64_t max_fragment_bytes = 50'000'000;
    media::Duration max_fragment_duration = std::chrono::seconds(20);
    std::size_t max_tracks = 3;
    // Server clock (server timestamps, ACK latency); tests inject a fake one. Default: Timestamp::now.
    std::function<media::Timestamp()> clock;
};

// `since_first_byte`: time from the fragment's first byte to this ACK (for the ACK latency metrics).
using AckSink = std::function<void(const Ack& ack, media::Duration since_first_byte)>;

struct PutMediaStats {
    std::uint64_t bytes = 0;
    std::uint64_t fragments_stored = 0;
    std::uint64_t fragments_duplicate = 0;  // acknowledged again without a second copy
    std::uint64_t fragments_dropped = 0;    // partial at disconnect, or failed
    std::uint64_t frames = 0;
};

class PutMediaSession {
public:
    enum class State { active, ended };

    PutMediaSession(storage::FragmentStore& store, PutMediaOptions options, AckSink acks,
                    std::shared_ptr<LiveSink> live = nullptr);
    ~PutMediaSession();  // as abort()
    PutMediaSession(const PutMediaSession&) = delete;
    PutMediaSession& operator=(const PutMediaSession&) = delete;

    // The next bytes of the MKV stream. After `ended` the rest of the input is ignored.
    State feed(std::span<const std::uint8_t> bytes);
    // The same without a copy: a transport reads up to `size` bytes into input_space(size), then
    // commit_input(n) takes the first n of them as the next bytes. The space stays valid until the next
    // input_space() and until the session is destroyed; finish() and abort() do not free it.
    std::span<std::uint8_t> input_space(std::size_t size);
    State commit_input(std::size_t n);
    // Clean end of the input (end of the chunked body, WebSocket close): an open unknown-size Cluster that
    // ends on a block boundary is complete and stored; one cut inside a block is dropped.
    State finish();
    // Connection lost: the fragment in progress is dropped, nothing of it is stored.
    void abort();
    // Calls `callback` once every fragment acknowledged RECEIVED so far has had its PERSISTED (or commit
    // ERROR) delivered: at once when none is pending, else from the store's commit thread. For closing an
    // HTTP response after the last ACK. Replaces an earlier callback not yet called.
    void when_acknowledged(std::function<void()> callback);

    State state() const noexcept;
    // The error that ended the session, if any.
    std::error_code error() const noexcept;
    PutMediaStats stats() const noexcept;

private:
    class Impl;
    std::unique_ptr<Impl> impl_;
};

}  // namespace kinema::server
