// kinema-server: parse flags (each also a KINEMA_* environment variable), set up logging, run the server
// until SIGINT or SIGTERM, then drain.
#include <spdlog/pattern_formatter.h>
#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <pthread.h>
#include <CLI/CLI.hpp>
#include <csignal>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iostream>

#include "kinema/server/server.h"

namespace {

// spdlog's pattern cannot escape the message for JSON; this flag (%*) writes it as a JSON string body.
class JsonEscapedMessage final : public spdlog::custom_flag_formatter {
public:
    void format(const spdlog::details::log_msg& msg, const std::tm&, spdlog::memory_buf_t& dest) override {
        for (const char c : msg.payload) {
            switch (c) {
                case '"':
                    dest.append(std::string_view("\\\""));
                    break;
                case '\\':
                    dest.append(std::string_view("\\\\"));
                    break;
                case '\n':
                    dest.append(std::string_view("\\n"));
                    break;
                case '\r':
                    dest.append(std::string_view("\\r"));
                    break;
                case '\t':
                    dest.append(std::string_view("\\t"));
                    break;
                default:
                    if (static_cast<unsigned char>(c) < 0x20) {
                        char escaped[8];
                        std::snprintf(escaped, sizeof escaped, "\\u%04x", static_cast<unsigned>(c));
                        dest.append(std::string_view(escaped));
                    } else {
                        dest.push_back(c);
                    }
            }
        }
    }
    std::unique_ptr<custom_flag_formatter> clone() const override {
        return std::make_unique<JsonEscapedMessage>();
    }
};

void setup_logging(const std::string& level, const std::string& format) {
    // Logs go to stderr; stdout carries only the "listening on" line that scripts and tests read.
    auto logger = spdlog::stderr_color_mt("kinema");
    spdlog::set_default_logger(logger);
    spdlog::set_level(spdlog::level::from_str(level));
    if (format == "json") {
        auto formatter = std::make_unique<spdlog::pattern_formatter>();
        formatter->add_flag<JsonEscapedMessage>('*').set_pattern(
            R"({"time":"%Y-%m-%dT%H:%M:%S.%e%z","level":"%l","thread":%t,"message":"%*"})");
        spdlog::set_formatter(std::move(formatter));
    } else {
        spdlog::set_pattern("%Y-%m-%d %H:%M:%S.%e %^%-5l%$ %v");
    }
}

}  // namespace

int main(int argc, char** argv) {
    kinema::server::ServerConfig config;
    std::string listen = "127.0.0.1:8080";
    std::string data_dir = config.data_dir.string();
    std::string port_file;
    std::string log_level = "info";
    std::string log_format = "text";
    unsigned idle_timeout = static_cast<unsigned>(config.idle_timeout.count());
    unsigned drain_timeout_ms = static_cast<unsigned>(config.drain_timeout.count());

    CLI::App app{
        "kinema-server: a self-hosted, KVS-compatible video ingestion server.\n"
        "With no arguments it listens on 127.0.0.1:8080 and keeps its data in ./kinema-data.\n"
        "Every option can also be set by the environment variable shown next to it."};
    app.add_option("--listen", listen, "HOST:PORT to listen on; port 0 picks a free port (see --port-file)")
        ->envname("KINEMA_LISTEN")
        ->capture_default_str();
    app.add_option("--data-dir", data_dir, "Directory for the catalog and fragment data (created if missing)")
        ->envname("KINEMA_DATA_DIR")
        ->capture_default_str();
    app.add_option(
           "--public-url", config.public_url,
           "URL clients reach this server at, returned by GetDataEndpoint (default: http://<listen address>)")
        ->envname("KINEMA_PUBLIC_URL");
    app.add_option("--region", config.region, "AWS region written into stream ARNs")
        ->envname("KINEMA_REGION")
        ->capture_default_str();
    app.add_option("--account", config.account, "AWS account id written into stream ARNs")
        ->envname("KINEMA_ACCOUNT")
        ->capture_default_str();
    app.add_option(
           "--threads", config.network_threads,
           "Network threads, each with its own io_context (connections spread round-robin); 0 = one per core")
        ->envname("KINEMA_THREADS")
        ->capture_default_str();
    app.add_option("--blocking-threads", config.blocking_threads,
                   "Threads for catalog and storage calls, kept off the network threads")
        ->envname("KINEMA_BLOCKING_THREADS")
        ->check(CLI::Range(1u, 256u))
        ->capture_default_str();
    app.add_option("--max-body-bytes", config.max_body_bytes,
                   "Largest request body of the JSON APIs; larger ones get 413")
        ->envname("KINEMA_MAX_BODY_BYTES")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 30))
        ->capture_default_str();
    app.add_option("--max-header-bytes", config.max_header_bytes,
                   "Largest request header block; larger ones get 431")
        ->envname("KINEMA_MAX_HEADER_BYTES")
        ->check(CLI::Range(std::size_t{1024}, std::size_t{1} << 20))
        ->capture_default_str();
    app.add_option("--max-json-depth", config.max_json_depth,
                   "Deepest nesting accepted in a JSON request body")
        ->envname("KINEMA_MAX_JSON_DEPTH")
        ->check(CLI::Range(2u, 1000u))
        ->capture_default_str();
    app.add_option("--idle-timeout", idle_timeout, "Seconds before an idle connection is closed")
        ->envname("KINEMA_IDLE_TIMEOUT")
        ->check(CLI::Range(1u, 86400u))
        ->capture_default_str();
    app.add_option("--drain-timeout-ms", drain_timeout_ms,
                   "On SIGINT/SIGTERM, how long requests in flight may take to finish")
        ->envname("KINEMA_DRAIN_TIMEOUT_MS")
        ->capture_default_str();
    unsigned idle_ack_ms = static_cast<unsigned>(config.idle_ack_interval.count());
    unsigned takeover_ms = static_cast<unsigned>(config.producer_takeover_after.count());
    app.add_option("--idle-ack-interval-ms", idle_ack_ms,
                   "PutMedia: send an IDLE ACK after this many milliseconds without bytes from the producer")
        ->envname("KINEMA_IDLE_ACK_INTERVAL_MS")
        ->check(CLI::Range(10u, 3'600'000u))
        ->capture_default_str();
    app.add_option(
           "--producer-takeover-ms", takeover_ms,
           "PutMedia: a second producer for a stream is refused (ResourceInUseException) while the first "
           "sent bytes within this many milliseconds, and replaces it after (a reconnect)")
        ->envname("KINEMA_PRODUCER_TAKEOVER_MS")
        ->capture_default_str();
    app.add_option("--viewer-queue-bytes", config.viewer_queue_bytes,
                   "GetMedia live: bytes queued per viewer before a slow viewer skips to the next key frame")
        ->envname("KINEMA_VIEWER_QUEUE_BYTES")
        ->capture_default_str();
    app.add_option("--max-ws-message-bytes", config.max_ws_message_bytes,
                   "PutMedia over WebSocket: largest binary message accepted")
        ->envname("KINEMA_MAX_WS_MESSAGE_BYTES")
        ->capture_default_str();
    unsigned silence_ms = static_cast<unsigned>(config.websocket_silence_timeout.count());
    app.add_option("--websocket-silence-timeout-ms", silence_ms,
                   "PutMedia over WebSocket: a producer silent for half of this is pinged, and cut (its "
                   "fragment in progress dropped) when nothing, not even the pong, came by the end")
        ->envname("KINEMA_WEBSOCKET_SILENCE_TIMEOUT_MS")
        ->check(CLI::Range(100u, 86'400'000u))
        ->capture_default_str();
    app.add_option("--archive-batch-bytes", config.archive_batch_bytes,
                   "GetMedia (archived fragments) and GetMediaForFragmentList: bytes read from storage and "
                   "sent before the next read; a request holds at most this plus one fragment")
        ->envname("KINEMA_ARCHIVE_BATCH_BYTES")
        ->check(CLI::Range(std::size_t{1}, std::size_t{1} << 30))
        ->capture_default_str();
    app.add_option("--port-file", port_file, "Write the bound port to this file once listening (for scripts)")
        ->envname("KINEMA_PORT_FILE");
    app.add_option("--log-level", log_level, "trace, debug, info, warn, error, critical or off")
        ->envname("KINEMA_LOG_LEVEL")
        ->check(CLI::IsMember({"trace", "debug", "info", "warn", "error", "critical", "off"}))
        ->capture_default_str();
    app.add_option("--log-format", log_format, "text, or json (one object per line)")
        ->envname("KINEMA_LOG_FORMAT")
        ->check(CLI::IsMember({"text", "json"}))
        ->capture_default_str();
    CLI11_PARSE(app, argc, argv);

    if (!kinema::server::parse_listen_address(listen, config.listen_host, config.listen_port)) {
        std::cerr << "kinema-server: --listen must be HOST:PORT or [IPv6]:PORT, not '" << listen << "'\n";
        return 2;
    }
    config.data_dir = data_dir;
    config.idle_timeout = std::chrono::seconds(idle_timeout);
    config.drain_timeout = std::chrono::milliseconds(drain_timeout_ms);
    config.idle_ack_interval = std::chrono::milliseconds(idle_ack_ms);
    config.producer_takeover_after = std::chrono::milliseconds(takeover_ms);
    config.websocket_silence_timeout = std::chrono::milliseconds(silence_ms);
    setup_logging(log_level, log_format);

    // Block the stop signals before any thread starts, so every thread inherits the mask and sigwait below
    // is the only place they are received.
    sigset_t stop_signals;
    sigemptyset(&stop_signals);
    sigaddset(&stop_signals, SIGINT);
    sigaddset(&stop_signals, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &stop_signals, nullptr);

    std::error_code ec;
    const auto absolute_data_dir = std::filesystem::absolute(config.data_dir, ec);
    spdlog::info(
        "data directory: {}{}", ec ? config.data_dir.string() : absolute_data_dir.string(),
        app.count("--data-dir") == 0 && std::getenv("KINEMA_DATA_DIR") == nullptr ? " (default)" : "");

    kinema::server::Server server(config);
    try {
        server.start();
    } catch (const std::exception& e) {
        spdlog::critical("cannot start: {}", e.what());
        return 1;
    }
    if (!port_file.empty()) {
        // Written to a temporary name then renamed, so a reader never sees a half-written port.
        const std::string tmp = port_file + ".tmp";
        std::ofstream(tmp) << server.port() << "\n";
        std::filesystem::rename(tmp, port_file, ec);
        if (ec) spdlog::error("cannot write --port-file {}: {}", port_file, ec.message());
    }
    // After the port file, so a reader of this line also finds the file.
    std::cout << "kinema-server listening on " << server.url() << " (data in " << config.data_dir.string()
              << ")" << std::endl;

    int signal_number = 0;
    sigwait(&stop_signals, &signal_number);
    spdlog::info("received {}, shutting down", signal_number == SIGINT ? "SIGINT" : "SIGTERM");
    server.stop();
    return 0;
}
