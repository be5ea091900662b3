#include "kvs_error.h"

#include <nlohmann/json.hpp>
#include <string>

namespace kinema::server {

ApiResponse kvs_error(unsigned status, std::string_view name, std::string_view message) {
    ApiResponse response;
    response.status = status;
    response.error_type = std::string(name);
    response.headers.emplace_back("x-amzn-ErrorType", std::string(name));
    // dump() with replacement: a message quoting client input must not make the body invalid UTF-8.
    response.body = nlohmann::json{{"__type", name}, {"Message", message}}.dump(
        -1, ' ', false, nlohmann::json::error_handler_t::replace);
    return response;
}

ApiResponse invalid_argument(std::string_view message) {
    return kvs_error(400, "InvalidArgumentException", message);
}

ApiResponse kvs_error(const storage::CatalogError& error) {
    const std::string_view name = storage::kvs_error_name(error.code);
    unsigned status = 400;
    if (name == "ResourceNotFoundException") status = 404;
    if (name == "InternalFailure") status = 500;
    return kvs_error(status, name, error.message.empty() ? error.code.message() : error.message);
}

}  // namespace kinema::server
