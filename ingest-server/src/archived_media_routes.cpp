#include "archived_media_routes.h"

#include <string_view>

#include "archived_media.h"
#include "kvs_error.h"

namespace kinema::server {
namespace {

ApiResponse to_response(const MediaApiError& error) {
    return kvs_error(error.status, error.type, error.message);
}

ApiResponse list_fragments_route(const ArchivedMediaContext& context, const ApiRequest& request) {
    nlohmann::json body;
    if (auto error = parse_request_body(request.body, body)) return to_response(error);
    nlohmann::json answer;
    if (auto error = list_fragments(*context.store, catalog_stream_resolver(*context.catalog, *context.store),
                                    body, answer)) {
        return to_response(error);
    }
    ApiResponse response;
    response.body = answer.dump();
    return response;
}

}  // namespace

void add_archived_media_routes(Router& router, ArchivedMediaContext context) {
    router.add({"POST", "/listFragments", "ListFragments", Execution::blocking_pool, false,
                [context](const ApiRequest& request) { return list_fragments_route(context, request); }});
    // Streamed by the HTTP session (Streaming::fragment_list); the handler only answers where no media
    // service is configured.
    router.add({"POST", "/getMediaForFragmentList", "GetMediaForFragmentList", Execution::network_thread,
                false,
                [](const ApiRequest& request) {
                    if (request.websocket_upgrade)
                        return invalid_argument("GetMediaForFragmentList is a POST, not a WebSocket");
                    return kvs_error(500, "InternalFailure", "GetMediaForFragmentList is not available");
                },
                Streaming::fragment_list});
}

}  // namespace kinema::server
