#include "control_plane.h"

#include <algorithm>
#include <array>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "json_request.h"
#include "kvs_error.h"

namespace kinema::server {
namespace {

using nlohmann::json;
using storage::Catalog;
using storage::CatalogError;

ApiResponse json_response(const json& body) {
    ApiResponse response;
    response.body = body.dump(-1, ' ', false, json::error_handler_t::replace);
    return response;
}

ApiResponse empty_response() {
    return json_response(json::object());
}

json stream_info_json(const storage::StreamInfo& info) {
    json out = {
        {"StreamName", info.name},
        {"StreamARN", info.arn},
        {"Status", storage::to_string(info.status)},
        {"Version", info.version},
        // Epoch seconds as a number: what rest-json clients (botocore, the AWS SDKs) parse as a timestamp.
        {"CreationTime", static_cast<double>(info.creation_time_ms) / 1000.0},
        {"DataRetentionInHours", info.data_retention_hours},
    };
    if (!info.device_name.empty()) out["DeviceName"] = info.device_name;
    if (!info.media_type.empty()) out["MediaType"] = info.media_type;
    if (!info.kms_key_id.empty()) out["KmsKeyId"] = info.kms_key_id;
    return out;
}

storage::StreamRef stream_ref(JsonRequest& request) {
    return {request.string("StreamName").value_or(""), request.string("StreamARN").value_or("")};
}

// Parses the body and runs body_handler on it; the JSON-level errors are answered here once for every
// operation.
class Operations {
public:
    explicit Operations(ControlPlaneContext context) : ctx_(std::move(context)) {}

    template <typename Handler>
    ApiResponse with_body(const ApiRequest& http, Handler&& handler) const {
        std::string error;
        auto request = JsonRequest::parse(http.body, ctx_.max_json_depth, error);
        if (!request) return invalid_argument(error);
        return handler(*request);
    }

    ApiResponse create_stream(JsonRequest& r) const {
        storage::NewStream stream;
        stream.name = r.string("StreamName", Field::required).value_or("");
        stream.device_name = r.string("DeviceName").value_or("");
        stream.media_type = r.string("MediaType").value_or("");
        stream.kms_key_id = r.string("KmsKeyId").value_or("");
        stream.data_retention_hours = r.integer("DataRetentionInHours").value_or(0);
        stream.tags = r.string_map("Tags").value_or(storage::Tags{});
        if (!r.ok()) return invalid_argument(r.error());
        storage::StreamInfo info;
        if (auto e = ctx_.catalog->create_stream(stream, &info)) return kvs_error(e);
        if (ctx_.retention_changed) ctx_.retention_changed(info.name, info.data_retention_hours);
        return json_response({{"StreamARN", info.arn}});
    }

    ApiResponse describe_stream(JsonRequest& r) const {
        const auto ref = stream_ref(r);
        if (!r.ok()) return invalid_argument(r.error());
        storage::StreamInfo info;
        if (auto e = ctx_.catalog->describe_stream(ref, info)) return kvs_error(e);
        return json_response({{"StreamInfo", stream_info_json(info)}});
    }

    ApiResponse list_streams(JsonRequest& r) const {
        const auto max_results = r.integer("MaxResults").value_or(storage::max_list_streams_results);
        const auto next_token = r.string("NextToken").value_or("");
        std::string prefix;
        if (auto condition = r.object("StreamNameCondition")) {
            const auto op = condition->string("ComparisonOperator");
            prefix = condition->string("ComparisonValue").value_or("");
            r.absorb(*condition);
            if (r.ok() && op && *op != "BEGINS_WITH")
                return invalid_argument("StreamNameCondition.ComparisonOperator must be BEGINS_WITH");
        }
        if (!r.ok()) return invalid_argument(r.error());
        if (max_results < 1 || max_results > storage::max_list_streams_results)
            return invalid_argument("MaxResults must be 1-10000");
        storage::StreamPage page;
        if (auto e = ctx_.catalog->list_streams(prefix, static_cast<int>(max_results), next_token, page))
            return kvs_error(e);
        json list = json::array();
        for (const auto& info : page.streams)
            list.push_back(stream_info_json(info));
        json out = {{"StreamInfoList", std::move(list)}};
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return json_response(out);
    }

    ApiResponse delete_stream(JsonRequest& r) const {
        // KVS's DeleteStream takes only the ARN.
        const auto arn = r.string("StreamARN", Field::required).value_or("");
        const auto version = r.string("CurrentVersion").value_or("");
        if (!r.ok()) return invalid_argument(r.error());
        if (auto e = ctx_.catalog->delete_stream({{}, arn}, version, ctx_.delete_stream_data))
            return kvs_error(e);
        return empty_response();
    }

    ApiResponse update_stream(JsonRequest& r) const {
        storage::StreamUpdate update;
        update.stream = stream_ref(r);
        update.current_version = r.string("CurrentVersion", Field::required).value_or("");
        update.device_name = r.string("DeviceName");
        update.media_type = r.string("MediaType");
        if (!r.ok()) return invalid_argument(r.error());
        if (auto e = ctx_.catalog->update_stream(update)) return kvs_error(e);
        return empty_response();
    }

    ApiResponse update_data_retention(JsonRequest& r) const {
        const auto ref = stream_ref(r);
        const auto version = r.string("CurrentVersion", Field::required).value_or("");
        const auto operation = r.string("Operation", Field::required).value_or("");
        const auto hours = r.integer("DataRetentionChangeInHours", Field::required).value_or(0);
        if (!r.ok()) return invalid_argument(r.error());
        storage::RetentionChange change;
        if (operation == "INCREASE_DATA_RETENTION") {
            change = storage::RetentionChange::increase;
        } else if (operation == "DECREASE_DATA_RETENTION") {
            change = storage::RetentionChange::decrease;
        } else {
            return invalid_argument("Operation must be INCREASE_DATA_RETENTION or DECREASE_DATA_RETENTION");
        }
        if (auto e = ctx_.catalog->update_data_retention(ref, version, change, hours)) return kvs_error(e);
        storage::StreamInfo info;
        if (ctx_.retention_changed && !ctx_.catalog->describe_stream(ref, info))
            ctx_.retention_changed(info.name, info.data_retention_hours);
        return empty_response();
    }

    ApiResponse get_data_endpoint(JsonRequest& r) const {
        static constexpr std::array<std::string_view, 8> api_names = {"PUT_MEDIA",
                                                                      "GET_MEDIA",
                                                                      "LIST_FRAGMENTS",
                                                                      "GET_MEDIA_FOR_FRAGMENT_LIST",
                                                                      "GET_HLS_STREAMING_SESSION_URL",
                                                                      "GET_DASH_STREAMING_SESSION_URL",
                                                                      "GET_CLIP",
                                                                      "GET_IMAGES"};
        const auto ref = stream_ref(r);
        const auto api = r.string("APIName", Field::required).value_or("");
        if (!r.ok()) return invalid_argument(r.error());
        if (std::find(api_names.begin(), api_names.end(), api) == api_names.end())
            return invalid_argument("APIName " + api + " is not one of KVS's data-plane APIs");
        storage::StreamInfo info;
        if (auto e = ctx_.catalog->describe_stream(ref, info)) return kvs_error(e);
        // A single node is its own data endpoint for every API.
        return json_response({{"DataEndpoint", ctx_.public_url()}});
    }

    ApiResponse tag_stream(JsonRequest& r) const {
        const auto ref = stream_ref(r);
        const auto tags = r.string_map("Tags", Field::required).value_or(storage::Tags{});
        if (!r.ok()) return invalid_argument(r.error());
        if (auto e = ctx_.catalog->tag_stream(ref, tags)) return kvs_error(e);
        return empty_response();
    }

    ApiResponse untag_stream(JsonRequest& r) const {
        const auto ref = stream_ref(r);
        const auto keys = r.string_list("TagKeyList", Field::required).value_or(std::vector<std::string>{});
        if (!r.ok()) return invalid_argument(r.error());
        if (auto e = ctx_.catalog->untag_stream(ref, keys)) return kvs_error(e);
        return empty_response();
    }

    ApiResponse list_tags_for_stream(JsonRequest& r) const {
        const auto ref = stream_ref(r);
        const auto token = r.string("NextToken").value_or("");
        if (!r.ok()) return invalid_argument(r.error());
        storage::TagPage page;
        if (auto e = ctx_.catalog->list_tags(ref, token, page)) return kvs_error(e);
        json out = {{"Tags", json::object()}};
        for (const auto& [key, value] : page.tags)
            out["Tags"][key] = value;
        if (!page.next_token.empty()) out["NextToken"] = page.next_token;
        return json_response(out);
    }

private:
    ControlPlaneContext ctx_;
};

}  // namespace

void add_control_plane_routes(Router& router, ControlPlaneContext context) {
    using Method = ApiResponse (Operations::*)(JsonRequest&) const;
    struct Entry {
        const char* path;
        const char* operation;
        Method method;
    };
    static constexpr Entry entries[] = {
        {"/createStream", "CreateStream", &Operations::create_stream},
        {"/describeStream", "DescribeStream", &Operations::describe_stream},
        {"/listStreams", "ListStreams", &Operations::list_streams},
        {"/deleteStream", "DeleteStream", &Operations::delete_stream},
        {"/updateStream", "UpdateStream", &Operations::update_stream},
        {"/updateDataRetention", "UpdateDataRetention", &Operations::update_data_retention},
        {"/getDataEndpoint", "GetDataEndpoint", &Operations::get_data_endpoint},
        {"/tagStream", "TagStream", &Operations::tag_stream},
        {"/untagStream", "UntagStream", &Operations::untag_stream},
        {"/listTagsForStream", "ListTagsForStream", &Operations::list_tags_for_stream},
    };
    auto operations = std::make_shared<const Operations>(std::move(context));
    for (const auto& entry : entries) {
        Route route;
        route.method = "POST";
        route.path = entry.path;
        route.operation = entry.operation;
        route.execution = Execution::blocking_pool;
        route.handler = [operations, method = entry.method](const ApiRequest& request) {
            return operations->with_body(request,
                                         [&](JsonRequest& body) { return (*operations.*method)(body); });
        };
        router.add(std::move(route));
    }
}

}  // namespace kinema::server
