#include "media_routes.h"

#include "kvs_error.h"

namespace kinema::server {

void add_media_routes(Router& router) {
    struct Entry {
        const char* method;
        const char* path;
        const char* operation;
        bool websocket;
        Streaming streaming;
    };
    static constexpr Entry entries[] = {
        {"POST", "/putMedia", "PutMedia", false, Streaming::put_media},
        {"PUT", "/putMedia", "PutMedia", false, Streaming::put_media},  // curl -T
        {"GET", "/putMedia", "PutMedia", true, Streaming::put_media},
        {"POST", "/getMedia", "GetMedia", false, Streaming::get_media},
        {"GET", "/getMedia", "GetMedia", true, Streaming::get_media},
    };
    for (const auto& entry : entries) {
        Route route;
        route.method = entry.method;
        route.path = entry.path;
        route.operation = entry.operation;
        route.execution = Execution::network_thread;
        route.websocket = entry.websocket;
        route.streaming = entry.streaming;
        // Reached only by a GET without an Upgrade header (the session streams everything else).
        route.handler = [operation = std::string(entry.operation)](const ApiRequest&) {
            return invalid_argument("GET " + operation +
                                    " needs a WebSocket upgrade; use POST for the HTTP form");
        };
        router.add(std::move(route));
    }
}

}  // namespace kinema::server
