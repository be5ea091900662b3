#include "archived_media_routes.h"

#include <string_view>

#include "archived_media.h"
#include "kvs_error.h"

namespace kinema::server {
namespace {

ApiResponse to_response(const MediaApiError& error) {
    return kvs_error(error.status, error.type, error.message);
}

StreamResolver catalog_resolver(const ArchivedMediaContext& context) {
    return
        [context](const std::string& name, const std::string& arn, ResolvedStream& stream) -> MediaApiError {
            storage::StreamInfo info;
            if (auto error = context.catalog->describe_stream({name, arn}, info)) {
                std::string type = storage::kvs_error_name(error.code);
                unsigned status = type == "ResourceNotFoundException" ? 404
                                  : type == "InternalFailure"         ? 500
                                                                      : 400;
                return {status, type, error.message.empty() ? error.code.message() : error.message};
            }
            if (!context.store->is_open(info.name)) {
                const auto retention = static_cast<std::uint32_t>(info.data_retention_hours);
                if (auto ec = context.store->open_stream(info.name, retention)) {
                    return storage_error(ec, "open stream " + info.name);
                }
            }
            stream = {info.name, info.name};
            return {};
        };
}

ApiResponse list_fragments_route(const ArchivedMediaContext& context, const ApiRequest& request) {
    nlohmann::json body;
    if (auto error = parse_request_body(request.body, body)) return to_response(error);
    nlohmann::json answer;
    if (auto error = list_fragments(*context.store, catalog_resolver(context), body, answer)) {
        return to_response(error);
    }
    ApiResponse response;
    response.body = answer.dump();
    return response;
}

ApiResponse fragment_list_route(const ArchivedMediaContext& context, const ApiRequest& request) {
    nlohmann::json body;
    if (auto error = parse_request_body(request.body, body)) return to_response(error);
    std::unique_ptr<FragmentListReader> reader;
    if (auto error = FragmentListReader::open(*context.store, catalog_resolver(context), body, reader)) {
        return to_response(error);
    }
    Bytes mkv;
    GetMediaWriter errors(OutputMode::kvs);
    while (reader->next(mkv)) {
        if (mkv.size() > context.max_fragment_list_bytes) {
            errors.write_error("ClientLimitExceededException", 400, mkv);
            break;
        }
    }
    ApiResponse response;
    response.content_type = "video/webm";
    response.body.assign(mkv.begin(), mkv.end());
    return response;
}

}  // namespace

void add_archived_media_routes(Router& router, ArchivedMediaContext context) {
    router.add({"POST", "/listFragments", "ListFragments", Execution::blocking_pool, false,
                [context](const ApiRequest& request) { return list_fragments_route(context, request); }});
    router.add({"POST", "/getMediaForFragmentList", "GetMediaForFragmentList", Execution::blocking_pool,
                false,
                [context](const ApiRequest& request) { return fragment_list_route(context, request); }});
}

}  // namespace kinema::server
