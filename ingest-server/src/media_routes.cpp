#include "media_routes.h"

#include "kvs_error.h"

namespace kinema::server {

void add_media_placeholder_routes(Router& router) {
    struct Entry {
        const char* method;
        const char* path;
        const char* operation;
        bool websocket;
    };
    static constexpr Entry entries[] = {
        {"POST", "/putMedia", "PutMedia", false},
        {"GET", "/putMedia", "PutMedia", true},
        {"POST", "/getMedia", "GetMedia", false},
        {"GET", "/getMedia", "GetMedia", true},
    };
    for (const auto& entry : entries) {
        Route route;
        route.method = entry.method;
        route.path = entry.path;
        route.operation = entry.operation;
        route.execution = Execution::network_thread;
        route.websocket = entry.websocket;
        route.handler = [operation = std::string(entry.operation)](const ApiRequest&) {
            return kvs_error(501, "NotImplementedException",
                             operation + " is not implemented by this kinema-server build yet");
        };
        router.add(std::move(route));
    }
}

}  // namespace kinema::server
