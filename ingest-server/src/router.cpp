#include "router.h"

#include <stdexcept>
#include <utility>

#include "kvs_error.h"

namespace kinema::server {

void Router::add(Route route) {
    for (const auto& r : routes_)
        if (r.method == route.method && r.path == route.path && r.websocket == route.websocket)
            throw std::logic_error("route registered twice: " + route.method + " " + route.path);
    routes_.push_back(std::move(route));
}

RouteMatch Router::match(const ApiRequest& request) const {
    // A linear scan: a few dozen routes, and comparing short strings beats hashing them.
    std::string allow;
    const Route* fallback = nullptr;
    for (const auto& r : routes_) {
        if (r.path != request.path) continue;
        if (r.method != request.method) {
            if (allow.find(r.method) == std::string::npos)
                allow += allow.empty() ? r.method : ", " + r.method;
            continue;
        }
        if (r.websocket == request.websocket_upgrade) return {&r, {}};
        fallback = &r;
    }
    // An upgrade request to a plain route (or the reverse) still reaches it; the handler decides.
    if (fallback != nullptr) return {fallback, {}};
    if (!allow.empty()) {
        auto response =
            kvs_error(405, "MethodNotAllowedException",
                      request.method + " is not allowed on " + request.path + " (allowed: " + allow + ")");
        response.headers.emplace_back("Allow", allow);
        return {nullptr, std::move(response)};
    }
    return {nullptr, kvs_error(404, "UnknownOperationException", "no operation at " + request.path)};
}

}  // namespace kinema::server
