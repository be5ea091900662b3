// What the streaming media sessions (PutMedia and GetMedia over WebSocket and chunked HTTP) share, free of
// Beast: the catalog and store, the live hubs, the one-producer-per-stream registry, and the request
// checks that run before a connection is upgraded or answered (stream lookup, parameters). The checks touch
// the catalog: run them on the blocking-work pool.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <shared_mutex>
#include <string>

#include <kinema/storage/catalog.h>
#include <kinema/storage/fragment_store.h>

#include "api.h"
#include "live_hub.h"
#include "put_media_session.h"
#include "start_selector.h"

namespace kinema::server {

class Metrics;
class FragmentListReader;

struct MediaServiceOptions {
    // An IDLE ACK goes to a producer that sent nothing for this long (KVS: about 30 s).
    std::chrono::milliseconds idle_ack_interval{30'000};
    // A second producer for a stream is refused while the first has sent something within this time;
    // after it, the newcomer replaces the silent one (the reconnect of a producer whose old connection the
    // server has not seen die yet).
    std::chrono::milliseconds producer_takeover_after{5'000};
    std::size_t viewer_queue_bytes = 8u << 20;
    std::size_t max_ws_message_bytes = 16u << 20;
    // A WebSocket producer silent for half of this is pinged; silent for all of it, cut (ServerConfig).
    std::chrono::milliseconds websocket_silence_timeout{300'000};
    // GetMedia's archive and GetMediaForFragmentList: one trip to the blocking pool reads fragments until
    // this many bytes (or 8 fragments) are ready, then sends them before reading more. A request holds at
    // most this plus one fragment.
    std::size_t archive_batch_bytes = 2u << 20;
};

// One producer's hold on a stream. Every call into its PutMediaSession happens under `ingest_lock` (shared
// by all claims of that stream), so a newcomer can abort a silent predecessor's session safely from its own
// thread.
struct ProducerClaim {
    std::string stream;
    std::shared_ptr<std::mutex> ingest_lock;
    std::shared_ptr<PutMediaSession> session;  // set once the session exists
    std::atomic<std::int64_t> last_activity_ns{0};
    std::atomic<bool> revoked{false};
    std::function<void()> on_revoked;         // posts the old connection's close; any thread
    std::function<void()> on_stream_deleted;  // posts ERROR 4008 and the end of the session; any thread

    void touch();
};

class ProducerRegistry {
public:
    // Registers `claim` for its stream. Refused (false) while another live claim was active within
    // `takeover_after`; a silent one is revoked (its session aborted, on_revoked called) and replaced.
    bool claim(const std::shared_ptr<ProducerClaim>& claim, std::chrono::milliseconds takeover_after);
    // Drops `claim` if it is still the stream's current one.
    void release(const ProducerClaim& claim);
    // The stream is being deleted: its producer (if any) is revoked, its session aborted (nothing more is
    // stored), and on_stream_deleted called.
    void end_stream(const std::string& stream);

private:
    struct Entry {
        std::shared_ptr<std::mutex> ingest_lock = std::make_shared<std::mutex>();
        std::weak_ptr<ProducerClaim> current;
    };
    std::mutex mutex_;
    std::map<std::string, Entry> streams_;
};

// PutMedia's parameters, checked. `stream_active` false: the connection is accepted and answered with
// ERROR 4008 (STREAM_NOT_ACTIVE), as KVS does for a stream that exists but is not ACTIVE.
struct PutMediaPlan {
    std::string stream;
    bool stream_active = true;
    PutMediaOptions options;
    // The stream's live hub, taken with the check: a DeleteStream that completes before the connection starts
    // has ended it (LiveHub::ended), so the session refuses with 4008 instead of feeding a fresh hub.
    std::shared_ptr<LiveHub> hub;
};

struct GetMediaPlan {
    std::string stream;
    StartPosition position;
    bool continuous = false;
    // GetMediaForFragmentList: the checked list; its fragments are sent in order, then the body ends (no
    // live tail).
    std::shared_ptr<FragmentListReader> fragment_list;
    // Live GetMedia: the stream's hub, taken with the check (see PutMediaPlan::hub); a viewer whose stream
    // was deleted before it started finds it ended and ends at once.
    std::shared_ptr<LiveHub> hub;
};

class MediaService {
public:
    MediaService(storage::Catalog& catalog, storage::FragmentStore& store, Metrics& metrics,
                 MediaServiceOptions options);

    // Headers x-amzn-stream-name | x-amzn-stream-arn, x-amzn-fragment-timecode-type, x-amzn-producer-start-
    // timestamp (and, for WebSocket, the same names or StreamName/StreamARN/FragmentTimecodeType/
    // ProducerStartTimestamp as query parameters). Blocking (catalog). An empty error_type means success.
    ApiResponse prepare_put_media(const ApiRequest& request, PutMediaPlan& plan);
    // POST /getMedia's JSON body, or the WebSocket query (StreamName|StreamARN, StartSelectorType, ...,
    // Continuous=true). Blocking (catalog, store index).
    ApiResponse prepare_get_media(const ApiRequest& request, GetMediaPlan& plan);
    // POST /getMediaForFragmentList's JSON body (StreamName|StreamARN, Fragments): every fragment number is
    // checked here, so errors are plain HTTP responses sent before any body byte. Blocking (catalog, index).
    ApiResponse prepare_fragment_list(const ApiRequest& request, GetMediaPlan& plan);

    // The stream's live hub; a new one takes over the newest stored fragment (LiveHubSeed).
    std::shared_ptr<LiveHub> live_hub(const std::string& stream);
    // DeleteStream's data step, while the stream is DELETING: the producer gets ERROR 4008
    // (STREAM_NOT_ACTIVE) and its session ends, then `remove_data` runs, then (if it succeeded) live viewers
    // end (see GetMedia) and the stream's hub and metrics go. Excludes the request checks (prepare_*): a
    // check either sees the stream DELETING, or completes first and its plan's hub is ended here, so no check
    // re-creates the data of a deleted stream and no connection outlives it. Blocking pool.
    std::error_code delete_stream_data(const std::string& stream,
                                       const std::function<std::error_code()>& remove_data);

    storage::FragmentStore& store() noexcept { return store_; }
    LiveHubRegistry& hubs() noexcept { return hubs_; }
    ProducerRegistry& producers() noexcept { return producers_; }
    Metrics& metrics() noexcept { return metrics_; }
    const MediaServiceOptions& options() const noexcept { return options_; }

private:
    // Looks the stream up and, when it is ACTIVE, opens it in the store with its retention. Blocking.
    ApiResponse open_stream(const std::string& name, const std::string& arn, storage::StreamInfo& info);

    storage::Catalog& catalog_;
    storage::FragmentStore& store_;
    Metrics& metrics_;
    MediaServiceOptions options_;
    LiveHubRegistry hubs_;
    ProducerRegistry producers_;
    // Shared by the request checks, exclusive for delete_stream_data().
    std::shared_mutex deletion_mutex_;
};

// Decoded query parameters ("a=1&b=x%20y"); later duplicates are ignored.
std::map<std::string, std::string> parse_query(std::string_view query);

}  // namespace kinema::server
