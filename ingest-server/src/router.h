// The route table: (method, path) -> handler. Every API family registers its routes from its own file
// (control_plane.cpp, and put_media/get_media/archived_media as they arrive); the HTTP session only looks up.
#pragma once

#include <functional>
#include <string>
#include <string_view>
#include <vector>

#include "api.h"

namespace kinema::server {

enum class Execution {
    network_thread,  // cheap and non-blocking (healthz, metrics, errors)
    blocking_pool,   // touches the catalog or storage: runs on the blocking-work pool, the reply is posted
                     // back
};

// Routes whose connection becomes a stream once checked (the HTTP session hands its socket over).
// fragment_list: GetMediaForFragmentList, a chunked MKV body sent by the GetMedia transport.
enum class Streaming { none, put_media, get_media, fragment_list };

using UnaryHandler = std::function<ApiResponse(const ApiRequest&)>;

struct Route {
    std::string method;     // "POST", "GET"
    std::string path;       // exact, case-sensitive, as KVS spells it: "/createStream"
    std::string operation;  // label for logs and metrics: "CreateStream"
    Execution execution = Execution::blocking_pool;
    // A WebSocket route (GET with Upgrade, e.g. /putMedia); with `streaming` set, the session upgrades and
    // hands the socket to the media session, and `handler` answers requests that cannot stream (no upgrade).
    bool websocket = false;
    UnaryHandler handler;
    Streaming streaming = Streaming::none;
};

// The outcome of a lookup: a route, or the error response to send instead.
struct RouteMatch {
    const Route* route = nullptr;
    ApiResponse error;
};

class Router {
public:
    void add(Route route);
    // Unknown path: 404 UnknownOperationException; known path, other method: 405 with Allow.
    RouteMatch match(const ApiRequest& request) const;
    const std::vector<Route>& routes() const noexcept { return routes_; }

private:
    std::vector<Route> routes_;
};

}  // namespace kinema::server
