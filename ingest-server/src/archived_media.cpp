#include "archived_media.h"

#include <charconv>

#include <kinema/storage/error.h>

namespace kinema::server {
namespace {

using media::Timestamp;

constexpr int kMaxJsonDepth = 16;
constexpr const char* kTokenPrefix = "kinema1:";

std::optional<Timestamp> timestamp_from_json(const nlohmann::json& value) {
    if (value.is_number()) return Timestamp::from_epoch_seconds(value.get<double>());
    if (value.is_string()) return Timestamp::parse_kvs_seconds(value.get<std::string>());
    return std::nullopt;
}

// Epoch seconds with millisecond precision as a JSON number. nlohmann prints the shortest representation
// that round-trips, so 1700000000.123 goes out as 1700000000.123.
double to_json_seconds(Timestamp t) {
    return static_cast<double>(t.milliseconds()) / 1000.0;
}

MediaApiError resolve_stream(const StreamResolver& resolve, const nlohmann::json& request,
                             ResolvedStream& stream) {
    std::string name;
    std::string arn;
    for (auto [field, into] : {std::pair{"StreamName", &name}, std::pair{"StreamARN", &arn}}) {
        auto it = request.find(field);
        if (it == request.end() || it->is_null()) continue;
        if (!it->is_string()) return invalid_argument_error(std::string(field) + " must be a string");
        *into = it->get<std::string>();
    }
    if (name.empty() && arn.empty()) return invalid_argument_error("StreamName or StreamARN is required");
    return resolve(name, arn, stream);
}

// The NextToken of ListFragments: "kinema1:<kind>:<start ns>:<end ns>:<store token>".
std::string make_token(storage::TimestampKind kind, Timestamp start, Timestamp end,
                       const std::string& store_token) {
    return std::string(kTokenPrefix) + (kind == storage::TimestampKind::server ? "S" : "P") + ":" +
           std::to_string(start.nanoseconds()) + ":" + std::to_string(end.nanoseconds()) + ":" + store_token;
}

bool parse_token(std::string_view token, storage::TimestampKind& kind, Timestamp& start, Timestamp& end,
                 std::string& store_token) {
    if (token.substr(0, std::string_view(kTokenPrefix).size()) != kTokenPrefix) return false;
    token.remove_prefix(std::string_view(kTokenPrefix).size());
    auto take = [&token](std::string_view& part) {
        auto colon = token.find(':');
        if (colon == std::string_view::npos) return false;
        part = token.substr(0, colon);
        token.remove_prefix(colon + 1);
        return true;
    };
    std::string_view kind_text;
    std::string_view start_text;
    std::string_view end_text;
    if (!take(kind_text) || !take(start_text) || !take(end_text)) return false;
    if (kind_text == "S") {
        kind = storage::TimestampKind::server;
    } else if (kind_text == "P") {
        kind = storage::TimestampKind::producer;
    } else {
        return false;
    }
    auto number = [](std::string_view text, Timestamp& into) {
        std::int64_t value = 0;
        auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), value);
        if (ec != std::errc{} || ptr != text.data() + text.size()) return false;
        into = Timestamp::from_nanoseconds(value);
        return true;
    };
    if (!number(start_text, start) || !number(end_text, end)) return false;
    store_token = std::string(token);
    return true;
}

}  // namespace

MediaApiError invalid_argument_error(std::string message) {
    return {400, "InvalidArgumentException", std::move(message)};
}

MediaApiError not_found_error(std::string message) {
    return {404, "ResourceNotFoundException", std::move(message)};
}

MediaApiError storage_error(std::error_code ec, std::string context) {
    if (ec == storage::Errc::resource_not_found) return not_found_error(context + ": " + ec.message());
    if (ec == storage::Errc::invalid_argument) return invalid_argument_error(context + ": " + ec.message());
    return {500, "InternalFailure", context + ": " + ec.message()};
}

StreamResolver catalog_stream_resolver(storage::Catalog& catalog, storage::FragmentStore& store) {
    return [&catalog, &store](const std::string& name, const std::string& arn,
                              ResolvedStream& stream) -> MediaApiError {
        storage::StreamInfo info;
        if (auto error = catalog.describe_stream({name, arn}, info)) {
            std::string type = storage::kvs_error_name(error.code);
            unsigned status = type == "ResourceNotFoundException" ? 404
                              : type == "InternalFailure"         ? 500
                                                                  : 400;
            return {status, type, error.message.empty() ? error.code.message() : error.message};
        }
        if (!store.is_open(info.name)) {
            const auto retention = static_cast<std::uint32_t>(info.data_retention_hours);
            if (auto ec = store.open_stream(info.name, retention))
                return storage_error(ec, "open stream " + info.name);
        }
        stream = {info.name, info.name};
        return {};
    };
}

MediaApiError parse_request_body(std::string_view body, nlohmann::json& json) {
    bool too_deep = false;
    nlohmann::json::parser_callback_t limit_depth = [&too_deep](int depth, nlohmann::json::parse_event_t,
                                                                nlohmann::json&) {
        if (depth > kMaxJsonDepth) too_deep = true;
        return !too_deep;
    };
    if (body.empty()) body = "{}";
    json = nlohmann::json::parse(body, limit_depth, /*allow_exceptions=*/false);
    if (too_deep) return invalid_argument_error("request body nests deeper than 16 levels");
    if (!json.is_object()) return invalid_argument_error("request body must be a JSON object");
    return {};
}

MediaApiError list_fragments(const storage::FragmentStore& store, const StreamResolver& resolve,
                             const nlohmann::json& request, nlohmann::json& response) {
    ResolvedStream stream;
    if (auto error = resolve_stream(resolve, request, stream)) return error;

    std::size_t max_results = kMaxListFragmentsResults;
    if (auto it = request.find("MaxResults"); it != request.end() && !it->is_null()) {
        if (!it->is_number_integer() || it->get<std::int64_t>() < 1 ||
            it->get<std::int64_t>() > static_cast<std::int64_t>(kMaxListFragmentsResults)) {
            return invalid_argument_error("MaxResults must be an integer from 1 to 1000");
        }
        max_results = static_cast<std::size_t>(it->get<std::int64_t>());
    }

    storage::TimestampKind kind = storage::TimestampKind::server;
    Timestamp start = Timestamp::from_nanoseconds(0);
    Timestamp end = Timestamp::from_nanoseconds(std::numeric_limits<std::int64_t>::max());
    std::string store_token;
    if (auto it = request.find("NextToken"); it != request.end() && !it->is_null()) {
        if (!it->is_string() || !parse_token(it->get<std::string>(), kind, start, end, store_token)) {
            return invalid_argument_error("NextToken is not a token ListFragments returned");
        }
    } else if (auto selector = request.find("FragmentSelector");
               selector != request.end() && !selector->is_null()) {
        if (!selector->is_object()) return invalid_argument_error("FragmentSelector must be an object");
        auto type = selector->find("FragmentSelectorType");
        if (type == selector->end() || !type->is_string()) {
            return invalid_argument_error("FragmentSelector.FragmentSelectorType is required");
        }
        if (*type == "SERVER_TIMESTAMP") {
            kind = storage::TimestampKind::server;
        } else if (*type == "PRODUCER_TIMESTAMP") {
            kind = storage::TimestampKind::producer;
        } else {
            return invalid_argument_error(
                "FragmentSelector.FragmentSelectorType must be PRODUCER_TIMESTAMP or SERVER_TIMESTAMP");
        }
        auto range = selector->find("TimestampRange");
        if (range == selector->end() || !range->is_object()) {
            return invalid_argument_error("FragmentSelector.TimestampRange is required");
        }
        auto start_field = range->find("StartTimestamp");
        auto end_field = range->find("EndTimestamp");
        if (start_field == range->end() || end_field == range->end()) {
            return invalid_argument_error("TimestampRange needs StartTimestamp and EndTimestamp");
        }
        auto start_time = timestamp_from_json(*start_field);
        auto end_time = timestamp_from_json(*end_field);
        if (!start_time || !end_time) {
            return invalid_argument_error("TimestampRange timestamps must be epoch seconds");
        }
        if (*end_time < *start_time) {
            return invalid_argument_error("TimestampRange.EndTimestamp is before StartTimestamp");
        }
        start = *start_time;
        end = *end_time;
    }

    storage::FragmentPage page;
    auto ec = store.list(stream.key, kind, start, end, max_results, store_token, page);
    if (ec == storage::Errc::invalid_argument && !store_token.empty()) {
        return invalid_argument_error("NextToken is not a token ListFragments returned");
    }
    if (ec && ec != storage::Errc::fragment_not_found)
        return storage_error(ec, "list fragments of " + stream.name);

    nlohmann::json fragments = nlohmann::json::array();
    for (const auto& info : page.fragments) {
        fragments.push_back({
            {"FragmentNumber", storage::format_fragment_number(info.number)},
            {"FragmentSizeInBytes", info.size},
            {"ProducerTimestamp", to_json_seconds(info.producer_timestamp)},
            {"ServerTimestamp", to_json_seconds(info.server_timestamp)},
            {"FragmentLengthInMilliseconds", info.duration.count() / 1'000'000},
        });
    }
    response = nlohmann::json::object();
    response["Fragments"] = std::move(fragments);
    if (!page.next_token.empty()) response["NextToken"] = make_token(kind, start, end, page.next_token);
    return {};
}

MediaApiError FragmentListReader::open(const storage::FragmentStore& store, const StreamResolver& resolve,
                                       const nlohmann::json& request,
                                       std::unique_ptr<FragmentListReader>& reader) {
    ResolvedStream stream;
    if (auto error = resolve_stream(resolve, request, stream)) return error;
    auto list = request.find("Fragments");
    if (list == request.end() || !list->is_array()) return invalid_argument_error("Fragments is required");
    if (list->empty() || list->size() > kMaxFragmentListLength) {
        return invalid_argument_error("Fragments must list 1 to 1000 fragment numbers");
    }
    std::vector<storage::FragmentNumber> numbers;
    numbers.reserve(list->size());
    for (const auto& item : *list) {
        auto number =
            item.is_string() ? storage::parse_fragment_number(item.get<std::string>()) : std::nullopt;
        if (!number) return invalid_argument_error("Fragments holds something that is not a fragment number");
        storage::FragmentInfo info;
        auto ec = store.get_info(stream.key, *number, info);
        if (ec == storage::Errc::fragment_not_found || ec == storage::Errc::resource_not_found) {
            return not_found_error("fragment " + item.get<std::string>() + " not found in stream " +
                                   stream.name);
        }
        if (ec) return storage_error(ec, "fragment " + item.get<std::string>());
        numbers.push_back(*number);
    }
    reader.reset(new FragmentListReader(store, stream.key, std::move(numbers)));
    return {};
}

bool FragmentListReader::next(Bytes& out) {
    if (failed_ || next_ >= numbers_.size()) return false;
    const auto number = numbers_[next_++];
    storage::Fragment fragment;
    std::shared_ptr<const StreamHeader> header;
    std::error_code ec = store_.read(stream_, number, fragment);
    if (!ec) ec = headers_.get(store_, stream_, fragment.info.header_id, header);
    if (ec || !writer_.write_fragment(*header, fragment, Timestamp::now(), out)) {
        failed_ = true;
        const bool gone = ec == storage::Errc::fragment_not_found;
        writer_.write_error(gone ? "ResourceNotFoundException" : "InternalFailure", gone ? 404 : 500, out);
        return true;
    }
    return true;
}

}  // namespace kinema::server
