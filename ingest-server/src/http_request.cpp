#include "http_request.h"

#include <boost/beast/websocket/rfc6455.hpp>
#include <cctype>
#include <string_view>

namespace kinema::server {
namespace {

std::string_view view(boost::beast::string_view s) noexcept {
    return {s.data(), s.size()};
}

std::string lower(std::string_view s) {
    std::string out(s);
    for (char& c : out)
        c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    return out;
}

}  // namespace

ApiRequest to_api_request(boost::beast::http::request<boost::beast::http::string_body>& message,
                          std::string request_id) {
    ApiRequest request;
    request.request_id = std::move(request_id);
    request.method = std::string(view(message.method_string()));
    const std::string_view target = view(message.target());
    const auto question = target.find('?');
    request.path = std::string(target.substr(0, question));
    if (question != std::string_view::npos) request.query = std::string(target.substr(question + 1));
    for (const auto& field : message)
        request.headers.emplace_back(lower(view(field.name_string())), std::string(view(field.value())));
    request.websocket_upgrade = boost::beast::websocket::is_upgrade(message);
    request.body = std::move(message.body());
    return request;
}

}  // namespace kinema::server
