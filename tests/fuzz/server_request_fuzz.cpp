// libFuzzer target: arbitrary bytes as an HTTP request through Beast's parser (with the server's limits), the
// conversion to ApiRequest, the router and the control-plane handlers over a catalog in a temporary
// directory. Checks that every answer is well formed: a valid status, and for errors KVS's shape
// (x-amzn-ErrorType equal to the JSON body's __type).
#include <unistd.h>

#include <algorithm>
#include <boost/beast/http/parser.hpp>
#include <boost/beast/http/string_body.hpp>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "control_plane.h"
#include "http_request.h"
#include "kinema/storage/catalog.h"
#include "media_routes.h"
#include "router.h"

namespace {

namespace http = boost::beast::http;
using namespace kinema;

struct Fixture {
    Fixture() {
        dir = std::filesystem::temp_directory_path() / ("kinema-request-fuzz-" + std::to_string(getpid()));
        std::filesystem::remove_all(dir);
        storage::CatalogError error;
        catalog = storage::Catalog::open(dir, {}, error);
        if (!catalog) std::abort();
        // A stream for inputs that name it, so the handlers' success paths run too.
        storage::NewStream cam;
        cam.name = "cam1";
        catalog->create_stream(cam);
        server::ControlPlaneContext context;
        context.catalog = catalog.get();
        context.public_url = [] { return std::string("http://127.0.0.1:1"); };
        server::add_control_plane_routes(router, std::move(context));
    }
    ~Fixture() { std::filesystem::remove_all(dir); }

    std::filesystem::path dir;
    std::unique_ptr<storage::Catalog> catalog;
    server::Router router;
};

void check_response(const server::ApiResponse& response) {
    if (response.status < 200 || response.status > 599) std::abort();
    if (response.status < 400) return;
    std::string header;
    for (const auto& [name, value] : response.headers)
        if (name == "x-amzn-ErrorType") header = value;
    const auto body = nlohmann::json::parse(response.body, nullptr, false);
    if (header.empty() || !body.is_object() || body.value("__type", "") != header) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture* fixture = new Fixture();  // leaked on purpose: lives for the whole fuzzing run

    // Drive the parser the way Beast's own read loop does (boost/beast/http/impl/read.hpp): bytes arrive in
    // network-sized reads, whatever the parser consumed is dropped from the buffer, and after need_more the
    // parser is only called again once more bytes arrived. Calling put() again on the same bytes after
    // need_more breaks Beast's contract (it asserts in parse_chunk_header), which no server path does.
    constexpr std::size_t kReadSize = 512;
    http::request_parser<http::string_body> parser;
    parser.header_limit(16 << 10);
    parser.body_limit(1 << 20);
    parser.eager(true);
    boost::beast::error_code ec;
    std::string buffer;
    std::size_t offset = 0;
    while (!parser.is_done()) {
        if (offset == size) {
            // End of input. Beast requires some input before end of file, as its own read loop guarantees.
            if (!parser.got_some()) return 0;
            parser.put_eof(ec);
            if (ec || !parser.is_done()) return 0;
            break;
        }
        const auto n = std::min(kReadSize, size - offset);
        buffer.append(reinterpret_cast<const char*>(data) + offset, n);
        offset += n;
        for (;;) {
            const auto used = parser.put(boost::asio::buffer(buffer), ec);
            buffer.erase(0, used);
            if (ec == http::error::need_more) {
                ec = {};
                break;  // read more
            }
            if (ec) return 0;
            if (parser.is_done() || buffer.empty() || used == 0) break;
        }
    }
    auto message = parser.release();
    const auto request = server::to_api_request(message, "fuzz");
    auto match = fixture->router.match(request);
    if (match.route == nullptr) {
        check_response(match.error);
        return 0;
    }
    // Only the control plane's calls change state; keep the catalog from growing without bound.
    if (request.path == "/createStream" || request.path == "/tagStream") {
        storage::StreamPage page;
        fixture->catalog->list_streams({}, 1000, {}, page);
        if (page.streams.size() > 200) return 0;
    }
    check_response(match.route->handler(request));
    return 0;
}
