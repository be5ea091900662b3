#include "fake_putmedia_server.h"

#include <libwebsockets.h>

#include <algorithm>
#include <deque>
#include <stdexcept>

namespace kinema::producer::testing {

struct FakePutMediaServer::Connection {
    std::size_t session = 0;
    std::vector<std::uint8_t>* stream = nullptr;  // owned: allocated in on_established
    std::size_t scanned = 0;
    bool has_open_cluster = false;
    std::int64_t open_cluster = 0;
    std::deque<std::string>* outbox = nullptr;
    std::uint64_t fragment_number = 0;
    bool http_answer = false;  // an HTTP request is complete: answer it when writable
};

namespace {

int server_callback(lws* wsi, lws_callback_reasons reason, void* user, void* in, size_t len) {
    lws_context* context = lws_get_context(wsi);
    auto* server = static_cast<FakePutMediaServer*>(lws_context_user(context));
    auto* c = static_cast<FakePutMediaServer::Connection*>(user);
    switch (reason) {
        case LWS_CALLBACK_ESTABLISHED:
            server->on_established(wsi, *c);
            return 0;
        case LWS_CALLBACK_RECEIVE:
            server->on_receive(wsi, *c, static_cast<const std::uint8_t*>(in), len);
            return 0;
        case LWS_CALLBACK_SERVER_WRITEABLE:
            server->on_writable(wsi, *c);
            return 0;
        case LWS_CALLBACK_CLOSED:
            server->on_closed(*c);
            return 0;
        case LWS_CALLBACK_EVENT_WAIT_CANCELLED:
            server->on_wake();
            return 0;
        // Plain HTTP (createStream): the first protocol of the vhost gets these.
        case LWS_CALLBACK_HTTP:
            server->on_http(wsi, static_cast<const char*>(in));
            return 0;
        case LWS_CALLBACK_HTTP_BODY:
            server->on_http_body(static_cast<const char*>(in), len);
            return 0;
        case LWS_CALLBACK_HTTP_BODY_COMPLETION:
            server->on_http_body_complete(wsi, *c);
            return 0;
        case LWS_CALLBACK_HTTP_WRITEABLE:
            return server->on_http_writable(wsi, *c);
        default:
            return 0;
    }
}

const lws_protocols kServerProtocols[] = {
    {"fake-putmedia", server_callback, sizeof(FakePutMediaServer::Connection), 65536, 0, nullptr, 0},
    {nullptr, nullptr, 0, 0, 0, nullptr, 0},
};

std::string header(lws* wsi, const char* name) {
    char buf[256] = {};
    const int n = lws_hdr_custom_copy(wsi, buf, sizeof buf, name,
                                      static_cast<int>(std::char_traits<char>::length(name)));
    return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

// An EBML variable-length integer at `p` (marker bit removed); 0 bytes when truncated or invalid.
std::size_t read_vint(const std::vector<std::uint8_t>& s, std::size_t p, std::uint64_t& value) {
    if (p >= s.size() || s[p] == 0) return 0;
    std::size_t length = 1;
    while (!(s[p] & (0x80 >> (length - 1))))
        ++length;
    if (p + length > s.size()) return 0;
    value = s[p] & (0xFF >> length);
    for (std::size_t i = 1; i < length; ++i)
        value = (value << 8) | s[p + i];
    return length;
}

bool match(const std::vector<std::uint8_t>& s, std::size_t p, std::initializer_list<std::uint8_t> id) {
    if (p + id.size() > s.size()) return false;
    return std::equal(id.begin(), id.end(), s.begin() + static_cast<std::ptrdiff_t>(p));
}

}  // namespace

FakePutMediaServer::FakePutMediaServer(Mode mode, const std::string& tls_cert, const std::string& tls_key)
    : mode_(mode), tls_(!tls_cert.empty()) {
    lws_set_log_level(LLL_ERR, nullptr);
    lws_context_creation_info info{};
    info.port = 0;  // ephemeral
    info.iface = "127.0.0.1";
    info.protocols = kServerProtocols;
    info.user = this;
    info.gid = -1;
    info.uid = -1;
    info.fd_limit_per_thread = 64;
    if (tls_) {
        info.options |= LWS_SERVER_OPTION_DO_SSL_GLOBAL_INIT;
        info.ssl_cert_filepath = tls_cert.c_str();
        info.ssl_private_key_filepath = tls_key.c_str();
    }
    context_ = lws_create_context(&info);
    if (context_ == nullptr) throw std::runtime_error("fake server: lws_create_context failed");
    port_ = lws_get_vhost_listen_port(lws_get_vhost_by_name(context_, "default"));
    thread_ = std::thread([this] {
        for (;;) {
            {
                std::lock_guard lock(mutex_);
                if (exit_) break;
            }
            lws_service(context_, 0);
        }
    });
}

FakePutMediaServer::~FakePutMediaServer() {
    {
        std::lock_guard lock(mutex_);
        exit_ = true;
    }
    lws_cancel_service(context_);
    thread_.join();
    lws_context_destroy(context_);
}

void FakePutMediaServer::set_mode(Mode mode) {
    std::lock_guard lock(mutex_);
    mode_ = mode;
}

void FakePutMediaServer::drop_connection() {
    {
        std::lock_guard lock(mutex_);
        drop_requested_ = true;
    }
    lws_cancel_service(context_);
}

bool FakePutMediaServer::wait_for(const std::function<bool(const std::vector<FakeSession>&)>& predicate,
                                  std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return changed_.wait_for(lock, timeout, [&] { return predicate(sessions_); });
}

std::vector<FakeSession> FakePutMediaServer::sessions() const {
    std::lock_guard lock(mutex_);
    return sessions_;
}

void FakePutMediaServer::on_established(lws* wsi, Connection& c) {
    FakeSession s;
    s.stream_name = header(wsi, "x-amzn-stream-name:");
    s.timecode_type = header(wsi, "x-amzn-fragment-timecode-type:");
    s.start_timestamp = header(wsi, "x-amzn-producer-start-timestamp:");
    // lws keeps each query argument as a fragment of the URI_ARGS header.
    char arg[256];
    for (int i = 0; lws_hdr_copy_fragment(wsi, arg, sizeof arg, WSI_TOKEN_HTTP_URI_ARGS, i) > 0; ++i)
        s.query += (i == 0 ? "" : "&") + std::string(arg);
    c = Connection{};
    c.stream = new std::vector<std::uint8_t>();
    c.outbox = new std::deque<std::string>();
    std::lock_guard lock(mutex_);
    c.session = sessions_.size();
    sessions_.push_back(std::move(s));
    live_.push_back(wsi);
    changed_.notify_all();
}

void FakePutMediaServer::on_receive(lws* wsi, Connection& c, const std::uint8_t* data, std::size_t len) {
    if (c.stream == nullptr) return;
    c.stream->insert(c.stream->end(), data, data + len);
    {
        std::lock_guard lock(mutex_);
        FakeSession& s = sessions_[c.session];
        s.bytes += len;
        s.data.insert(s.data.end(), data, data + len);
        s.started_with_ebml_header = match(*c.stream, 0, {0x1A, 0x45, 0xDF, 0xA3});
    }
    scan(wsi, c);
}

void FakePutMediaServer::scan(lws* wsi, Connection& c) {
    const auto& s = *c.stream;
    std::size_t p = c.scanned;
    while (p + 4 <= s.size()) {
        if (match(s, p, {0x1F, 0x43, 0xB6, 0x75})) {  // Cluster
            std::uint64_t size = 0;
            const std::size_t l1 = read_vint(s, p + 4, size);
            if (l1 == 0) break;
            const std::size_t q = p + 4 + l1;
            if (q >= s.size()) break;
            if (s[q] != 0xE7) throw std::runtime_error("fake server: Cluster without a leading Timecode");
            std::uint64_t n = 0;
            const std::size_t l2 = read_vint(s, q + 1, n);
            if (l2 == 0 || q + 1 + l2 + n > s.size()) break;
            std::int64_t timecode = 0;
            for (std::size_t i = 0; i < n; ++i)
                timecode = (timecode << 8) | s[q + 1 + l2 + i];
            complete_cluster(wsi, c);
            c.has_open_cluster = true;
            c.open_cluster = timecode;
            {
                std::lock_guard lock(mutex_);
                sessions_[c.session].clusters.push_back(timecode);
                if (mode_ == Mode::ack)
                    c.outbox->push_back(R"({"EventType":"BUFFERING","FragmentTimecode":)" +
                                        std::to_string(timecode) + R"(,"FragmentNumber":"0"})");
                changed_.notify_all();
            }
            lws_callback_on_writable(wsi);
            p = q + 1 + l2 + static_cast<std::size_t>(n);
            continue;
        }
        if (match(s, p, {0x12, 0x54, 0xC3, 0x67})) complete_cluster(wsi, c);  // Tags ends a cluster
        ++p;
    }
    c.scanned = p;
}

void FakePutMediaServer::complete_cluster(lws* wsi, Connection& c) {
    if (!c.has_open_cluster) return;
    c.has_open_cluster = false;
    std::lock_guard lock(mutex_);
    if (mode_ != Mode::ack) return;
    const std::string number = std::to_string(++c.fragment_number);
    for (const char* type : {"RECEIVED", "PERSISTED"})
        c.outbox->push_back(std::string(R"({"EventType":")") + type + R"(","FragmentTimecode":)" +
                            std::to_string(c.open_cluster) + R"(,"FragmentNumber":")" + number + "\"}");
    lws_callback_on_writable(wsi);
}

void FakePutMediaServer::on_writable(lws* wsi, Connection& c) {
    if (c.outbox == nullptr || c.outbox->empty()) return;
    std::string message = std::move(c.outbox->front());
    c.outbox->pop_front();
    std::vector<unsigned char> buf(LWS_PRE + message.size());
    std::copy(message.begin(), message.end(), buf.begin() + LWS_PRE);
    lws_write(wsi, buf.data() + LWS_PRE, message.size(), LWS_WRITE_TEXT);
    if (!c.outbox->empty()) lws_callback_on_writable(wsi);
}

void FakePutMediaServer::on_closed(Connection& c) {
    delete c.stream;
    delete c.outbox;
    c.stream = nullptr;
    c.outbox = nullptr;
    std::lock_guard lock(mutex_);
    sessions_[c.session].closed = true;
    changed_.notify_all();
}

void FakePutMediaServer::on_wake() {
    std::vector<lws*> to_drop;
    {
        std::lock_guard lock(mutex_);
        if (!drop_requested_) return;
        drop_requested_ = false;
        for (std::size_t i = 0; i < live_.size(); ++i)
            if (!sessions_[i].closed) to_drop.push_back(live_[i]);
    }
    for (lws* wsi : to_drop)
        lws_set_timeout(wsi, static_cast<pending_timeout>(1), LWS_TO_KILL_ASYNC);
}

void FakePutMediaServer::set_http_response(int status, std::string body, std::string error_type) {
    std::lock_guard lock(mutex_);
    http_status_ = status;
    http_body_ = std::move(body);
    http_error_type_ = std::move(error_type);
}

std::vector<FakeHttpRequest> FakePutMediaServer::http_requests() const {
    std::lock_guard lock(mutex_);
    return http_requests_;
}

void FakePutMediaServer::on_http(lws* wsi, const char* path) {
    FakeHttpRequest request;
    request.method = lws_hdr_total_length(wsi, WSI_TOKEN_POST_URI) > 0 ? "POST" : "GET";
    request.path = path != nullptr ? path : "";
    char type[128] = {};
    if (lws_hdr_copy(wsi, type, sizeof type, WSI_TOKEN_HTTP_CONTENT_TYPE) > 0) request.content_type = type;
    const bool has_body =
        request.method == "POST" && lws_hdr_total_length(wsi, WSI_TOKEN_HTTP_CONTENT_LENGTH) > 0;
    {
        std::lock_guard lock(mutex_);
        http_requests_.push_back(std::move(request));
    }
    if (!has_body) {
        auto* c = static_cast<Connection*>(lws_wsi_user(wsi));
        on_http_body_complete(wsi, *c);
    }
}

void FakePutMediaServer::on_http_body(const char* data, std::size_t len) {
    std::lock_guard lock(mutex_);
    if (!http_requests_.empty()) http_requests_.back().body.append(data, len);
}

void FakePutMediaServer::on_http_body_complete(lws* wsi, Connection& c) {
    c.http_answer = true;
    lws_callback_on_writable(wsi);
    std::lock_guard lock(mutex_);
    changed_.notify_all();
}

int FakePutMediaServer::on_http_writable(lws* wsi, Connection& c) {
    if (!c.http_answer) return 0;
    c.http_answer = false;
    int status = 0;
    std::string body;
    std::string error_type;
    {
        std::lock_guard lock(mutex_);
        status = http_status_;
        body = http_body_;
        error_type = http_error_type_;
    }
    std::vector<unsigned char> buf(LWS_PRE + 1024 + body.size());
    unsigned char* start = buf.data() + LWS_PRE;
    unsigned char* p = start;
    unsigned char* end = buf.data() + buf.size() - 1;
    if (lws_add_http_common_headers(wsi, static_cast<unsigned int>(status), "application/json", body.size(),
                                    &p, end))
        return -1;
    if (!error_type.empty() &&
        lws_add_http_header_by_name(wsi, reinterpret_cast<const unsigned char*>("x-amzn-ErrorType:"),
                                    reinterpret_cast<const unsigned char*>(error_type.data()),
                                    static_cast<int>(error_type.size()), &p, end))
        return -1;
    if (lws_finalize_write_http_header(wsi, start, &p, end)) return -1;
    std::copy(body.begin(), body.end(), p);
    if (lws_write(wsi, p, body.size(), LWS_WRITE_HTTP_FINAL) != static_cast<int>(body.size())) return -1;
    return lws_http_transaction_completed(wsi) ? -1 : 0;
}

}  // namespace kinema::producer::testing
