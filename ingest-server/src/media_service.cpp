#include "media_service.h"

#include <nlohmann/json.hpp>
#include <string_view>

#include <kinema/storage/error.h>

#include "archived_media.h"
#include "kvs_error.h"
#include "metrics.h"

namespace kinema::server {
namespace {

using media::Timestamp;

std::int64_t steady_now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now().time_since_epoch())
        .count();
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::string url_decode(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '+') {
            out += ' ';
        } else if (text[i] == '%' && i + 2 < text.size() && hex_value(text[i + 1]) >= 0 &&
                   hex_value(text[i + 2]) >= 0) {
            out += static_cast<char>(hex_value(text[i + 1]) * 16 + hex_value(text[i + 2]));
            i += 2;
        } else {
            out += text[i];
        }
    }
    return out;
}

// The first of: header `header_name`, then each query parameter name given.
std::string parameter(const ApiRequest& request, const std::map<std::string, std::string>& query,
                      std::string_view header_name, std::initializer_list<const char*> query_names) {
    if (const auto* value = request.header(header_name)) return *value;
    for (const char* name : query_names)
        if (auto it = query.find(name); it != query.end()) return it->second;
    return {};
}

bool truthy(std::string_view value) {
    return value == "1" || value == "true" || value == "TRUE" || value == "True";
}

}  // namespace

std::map<std::string, std::string> parse_query(std::string_view query) {
    std::map<std::string, std::string> out;
    while (!query.empty()) {
        const auto amp = query.find('&');
        const auto pair = query.substr(0, amp);
        query = amp == std::string_view::npos ? std::string_view{} : query.substr(amp + 1);
        if (pair.empty()) continue;
        const auto eq = pair.find('=');
        auto name = url_decode(pair.substr(0, eq));
        auto value = eq == std::string_view::npos ? std::string{} : url_decode(pair.substr(eq + 1));
        out.emplace(std::move(name), std::move(value));
    }
    return out;
}

void ProducerClaim::touch() {
    last_activity_ns.store(steady_now_ns(), std::memory_order_relaxed);
}

bool ProducerRegistry::claim(const std::shared_ptr<ProducerClaim>& claim,
                             std::chrono::milliseconds takeover_after) {
    std::shared_ptr<ProducerClaim> previous;
    {
        std::lock_guard lock(mutex_);
        auto& entry = streams_[claim->stream];
        previous = entry.current.lock();
        if (previous && !previous->revoked) {
            const auto silent_ns = steady_now_ns() - previous->last_activity_ns.load();
            if (silent_ns < std::chrono::nanoseconds(takeover_after).count()) return false;
        }
        claim->ingest_lock = entry.ingest_lock;
        claim->touch();
        entry.current = claim;
    }
    if (previous && !previous->revoked.exchange(true)) {
        // Under the stream's ingest lock the old session is not inside feed(): its partial fragment is
        // dropped here, before the newcomer can feed anything.
        {
            std::lock_guard ingest(*previous->ingest_lock);
            if (previous->session) previous->session->abort();
        }
        if (previous->on_revoked) previous->on_revoked();
    }
    return true;
}

void ProducerRegistry::release(const ProducerClaim& claim) {
    std::lock_guard lock(mutex_);
    auto it = streams_.find(claim.stream);
    if (it == streams_.end()) return;
    auto current = it->second.current.lock();
    // Without a current claim there is no predecessor to abort: the entry (and its lock) can go.
    if (!current || current.get() == &claim) streams_.erase(it);
}

void ProducerRegistry::end_stream(const std::string& stream) {
    std::shared_ptr<ProducerClaim> current;
    {
        std::lock_guard lock(mutex_);
        auto it = streams_.find(stream);
        if (it == streams_.end()) return;
        current = it->second.current.lock();
        streams_.erase(it);
    }
    if (!current || current->revoked.exchange(true)) return;
    {
        // As for a takeover: the session is not inside feed() here, and stores nothing after this.
        std::lock_guard ingest(*current->ingest_lock);
        if (current->session) current->session->abort();
    }
    if (current->on_stream_deleted) current->on_stream_deleted();
}

MediaService::MediaService(storage::Catalog& catalog, storage::FragmentStore& store, Metrics& metrics,
                           MediaServiceOptions options)
    : catalog_(catalog),
      store_(store),
      metrics_(metrics),
      options_(options),
      hubs_(LiveHubOptions{options.viewer_queue_bytes, 64u << 20}) {}

std::shared_ptr<LiveHub> MediaService::live_hub(const std::string& stream) {
    return hubs_.hub(stream, [this, &stream] {
        LiveHubSeed seed;
        storage::FragmentInfo newest;
        if (!store_.newest(stream, newest)) {
            seed.last_published = newest.producer_timestamp;
            seed.last_completed = newest.number;
        }
        return seed;
    });
}

std::error_code MediaService::delete_stream_data(const std::string& stream,
                                                 const std::function<std::error_code()>& remove_data) {
    std::unique_lock deleting(deletion_mutex_);
    producers_.end_stream(stream);
    const auto ec = remove_data();
    if (ec) return ec;
    hubs_.end_stream(stream);
    metrics_.remove_stream(stream);
    return {};
}

ApiResponse MediaService::open_stream(const std::string& name, const std::string& arn,
                                      storage::StreamInfo& info) {
    if (name.empty() && arn.empty())
        return invalid_argument(
            "StreamName or StreamARN is required (x-amzn-stream-name or x-amzn-stream-arn)");
    if (auto error = catalog_.describe_stream({name, arn}, info)) return kvs_error(error);
    // A stream being deleted must not get its data directory back.
    if (info.status != storage::StreamStatus::active) return {};
    const auto retention = static_cast<std::uint32_t>(info.data_retention_hours);
    if (auto ec = store_.open_stream(info.name, retention))
        return kvs_error(500, "InternalFailure", "open stream " + info.name + ": " + ec.message());
    return {};
}

ApiResponse MediaService::prepare_put_media(const ApiRequest& request, PutMediaPlan& plan) {
    const auto query = parse_query(request.query);
    const auto name = parameter(request, query, "x-amzn-stream-name", {"x-amzn-stream-name", "StreamName"});
    const auto arn = parameter(request, query, "x-amzn-stream-arn", {"x-amzn-stream-arn", "StreamARN"});
    const auto timecode_type = parameter(request, query, "x-amzn-fragment-timecode-type",
                                         {"x-amzn-fragment-timecode-type", "FragmentTimecodeType"});
    const auto start = parameter(request, query, "x-amzn-producer-start-timestamp",
                                 {"x-amzn-producer-start-timestamp", "ProducerStartTimestamp"});
    if (timecode_type.empty())
        return invalid_argument("x-amzn-fragment-timecode-type (ABSOLUTE or RELATIVE) is required");
    if (timecode_type != "ABSOLUTE" && timecode_type != "RELATIVE")
        return invalid_argument("x-amzn-fragment-timecode-type must be ABSOLUTE or RELATIVE, not " +
                                timecode_type);
    plan.options.absolute_timecodes = timecode_type == "ABSOLUTE";
    if (!start.empty()) {
        auto parsed = Timestamp::parse_kvs_seconds(start);
        if (!parsed)
            return invalid_argument(
                "x-amzn-producer-start-timestamp must be epoch seconds (1700000000.123), not " + start);
        plan.options.producer_start = *parsed;
    }
    storage::StreamInfo info;
    std::shared_lock checking(deletion_mutex_);
    if (auto error = open_stream(name, arn, info); !error.error_type.empty()) return error;
    plan.stream = info.name;
    plan.stream_active = info.status == storage::StreamStatus::active;
    if (plan.stream_active) {
        plan.hub = live_hub(info.name);
        // Here, on the blocking pool, rather than at the first fragment on a network thread: creating a
        // segment's files there took a network thread 0.3-4 ms each when 200 producers started at once.
        // A failure is met again, and acknowledged as an error, by the first append.
        if (auto ec = store_.prepare_appends(info.name))
            spdlog::warn("stream {}: preparing its segment for appends failed: {}", info.name, ec.message());
    }
    plan.options.stream = info.name;
    plan.options.persisted_acks = info.data_retention_hours > 0;
    return {};
}

ApiResponse MediaService::prepare_get_media(const ApiRequest& request, GetMediaPlan& plan) {
    std::string name;
    std::string arn;
    StartSelector selector;
    std::string error;
    if (request.websocket_upgrade || request.method == "GET") {
        const auto query = parse_query(request.query);
        auto get = [&](const char* key) {
            auto it = query.find(key);
            return it == query.end() ? std::string{} : it->second;
        };
        name = get("StreamName");
        arn = get("StreamARN");
        plan.continuous = truthy(get("Continuous"));
        if (!parse_start_selector(query, selector, error)) return invalid_argument(error);
    } else {
        auto body = nlohmann::json::parse(request.body, nullptr, false);
        if (body.is_discarded() || !body.is_object())
            return invalid_argument("the body must be a JSON object");
        for (auto [field, into] : {std::pair{"StreamName", &name}, std::pair{"StreamARN", &arn}}) {
            auto it = body.find(field);
            if (it == body.end() || it->is_null()) continue;
            if (!it->is_string()) return invalid_argument(std::string(field) + " must be a string");
            *into = it->get<std::string>();
        }
        auto it = body.find("StartSelector");
        if (it == body.end()) return invalid_argument("StartSelector is required");
        if (!parse_start_selector(*it, selector, error)) return invalid_argument(error);
        if (auto c = body.find("Continuous"); c != body.end() && !c->is_null()) {
            if (!c->is_boolean()) return invalid_argument("Continuous must be a boolean");
            plan.continuous = c->get<bool>();
        }
    }
    if (const auto* header = request.header("x-kinema-continuous")) plan.continuous = truthy(*header);
    storage::StreamInfo info;
    std::shared_lock checking(deletion_mutex_);
    if (auto failure = open_stream(name, arn, info); !failure.error_type.empty()) return failure;
    if (info.status != storage::StreamStatus::active)
        return kvs_error(404, "ResourceNotFoundException",
                         "stream " + info.name + " is " + storage::to_string(info.status));
    plan.stream = info.name;
    if (auto ec = resolve_start(store_, info.name, selector, plan.position)) {
        if (ec == storage::Errc::fragment_not_found || ec == storage::Errc::resource_not_found)
            return kvs_error(404, "ResourceNotFoundException",
                             "no fragment for the StartSelector: " + ec.message());
        if (ec == storage::Errc::invalid_argument) return invalid_argument("StartSelector: " + ec.message());
        return kvs_error(500, "InternalFailure", "GetMedia of " + info.name + ": " + ec.message());
    }
    plan.hub = live_hub(info.name);
    return {};
}

ApiResponse MediaService::prepare_fragment_list(const ApiRequest& request, GetMediaPlan& plan) {
    nlohmann::json body;
    std::unique_ptr<FragmentListReader> reader;
    auto error = parse_request_body(request.body, body);
    std::shared_lock checking(deletion_mutex_);
    if (!error)
        error = FragmentListReader::open(store_, catalog_stream_resolver(catalog_, store_), body, reader);
    if (error) return kvs_error(error.status, error.type, error.message);
    plan.stream = reader->stream();
    plan.fragment_list = std::move(reader);
    return {};
}

}  // namespace kinema::server
