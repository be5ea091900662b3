// kinema-bench-ingest: the ingest server under producers and viewers on this machine. Prints `name: value`
// lines; never fails on time, never part of ctest.
//
//   kinema-bench-ingest [--streams N] [--seconds S] [--viewers V]      (defaults 200, 10, 500)
//
// The server is the real kinema-server binary, out of process, so its CPU (utime + stime from
// /proc/<pid>/stat, in % of one core) is its own. Producers send synthetic H.264-sized frames (1 s GOP at
// 25 fps, 2 Mbit/s: a 40 KB key frame, then 8.4 KB frames) as KVS-shaped MKV over WebSocket, one binary
// message per frame, paced in real time. The server does not decode, so frame contents do not matter; the
// first 8 bytes of each payload carry its send time for the live-latency figure.
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>

#include <unistd.h>
#include <utility>

#include <algorithm>
#include <array>
#include <boost/asio.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket.hpp>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <deque>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include <kinema/media/mkv_reader.h>
#include <kinema/media/mkv_writer.h>
#include <kinema/storage/fragment_store.h>

#include "ack.h"

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace fs = std::filesystem;
using tcp = asio::ip::tcp;
using Clock = std::chrono::steady_clock;
using Bytes = std::vector<std::uint8_t>;

namespace {

constexpr int kFps = 25;
constexpr std::size_t kKeyFrameBytes = 40'000;
constexpr std::size_t kFrameBytes = 8'400;  // 40 KB + 24 x 8.4 KB = 242 KB/s, about 2 Mbit/s
constexpr std::int64_t kEpochMs = 1'700'000'000'000;
constexpr std::size_t kMessageBytes = 64 * 1024;

std::int64_t now_ns() {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// CPU seconds of this process (the load generator), to tell a saturated client from a slow server.
double self_cpu_seconds() {
    rusage usage{};
    getrusage(RUSAGE_SELF, &usage);
    return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) +
           static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6;
}

double percentile(std::vector<double> v, double p) {
    if (v.empty()) return 0;
    std::sort(v.begin(), v.end());
    return v[std::min(v.size() - 1, static_cast<std::size_t>(p * static_cast<double>(v.size())))];
}

// ---- The server process --------------------------------------------------------------------------------

class ServerProcess {
public:
    ServerProcess(const fs::path& data_dir) {
        const fs::path port_file = data_dir / "port";
        pid_ = fork();
        if (pid_ == 0) {
            std::freopen("/dev/null", "w", stdout);
            // KINEMA_BENCH_SERVER runs another build of the server (to compare two versions on one machine).
            const char* binary = std::getenv("KINEMA_BENCH_SERVER");
            execl(binary != nullptr ? binary : KINEMA_SERVER_BINARY, "kinema-server", "--listen",
                  "127.0.0.1:0", "--data-dir", (data_dir / "data").c_str(), "--port-file", port_file.c_str(),
                  "--log-level", "warn", "--threads",
                  std::getenv("KINEMA_BENCH_THREADS") ? std::getenv("KINEMA_BENCH_THREADS") : "2",
                  "--viewer-queue-bytes", "4194304", nullptr);
            _exit(127);
        }
        for (int i = 0; i < 2000 && port_ == 0; ++i) {
            std::ifstream in(port_file);
            unsigned p = 0;
            if (in >> p)
                port_ = static_cast<std::uint16_t>(p);
            else
                std::this_thread::sleep_for(std::chrono::milliseconds(5));
        }
        if (port_ == 0) throw std::runtime_error("kinema-server did not start");
    }
    ~ServerProcess() {
        kill(pid_, SIGTERM);
        int status = 0;
        waitpid(pid_, &status, 0);
    }
    std::uint16_t port() const { return port_; }
    double cpu_seconds() const {
        std::ifstream in("/proc/" + std::to_string(pid_) + "/stat");
        std::string line;
        std::getline(in, line);
        // Fields after the ")" of the command name: state is field 3, utime 14, stime 15.
        std::istringstream rest(line.substr(line.rfind(')') + 2));
        std::string field;
        double ticks = 0;
        for (int i = 3; i <= 15 && rest >> field; ++i)
            if (i == 14 || i == 15) ticks += std::stod(field);
        return ticks / static_cast<double>(sysconf(_SC_CLK_TCK));
    }

private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

std::string http_post(std::uint16_t port, const std::string& target, const std::string& body) {
    asio::io_context ioc;
    beast::tcp_stream stream(ioc);
    stream.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port));
    http::request<http::string_body> req(body.empty() ? http::verb::get : http::verb::post, target, 11);
    req.set(http::field::host, "127.0.0.1");
    req.body() = body;
    req.prepare_payload();
    http::write(stream, req);
    beast::flat_buffer buffer;
    http::response<http::string_body> res;
    http::read(stream, buffer, res);
    return res.body();
}

// ---- Producer ------------------------------------------------------------------------------------------

struct ProducerStats {
    std::vector<double> received_ms;
    std::vector<double> persisted_ms;
    std::uint64_t fragments_completed = 0;
    std::uint64_t persisted = 0;
    std::uint64_t errors = 0;
    std::uint64_t bytes = 0;
};

class Producer : public std::enable_shared_from_this<Producer> {
public:
    // paced: one frame every 40 ms; otherwise back to back (throughput).
    Producer(asio::io_context& ioc, std::uint16_t port, std::string stream, bool paced, int max_fragments,
             ProducerStats& stats)
        : ws_(ioc),
          timer_(ioc),
          port_(port),
          stream_(std::move(stream)),
          paced_(paced),
          max_fragments_(max_fragments),
          stats_(stats) {}

    void start(Clock::time_point stop_at) {
        stop_at_ = stop_at;
        beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
        ws_.set_option(websocket::stream_base::decorator([s = stream_](websocket::request_type& req) {
            req.set("x-amzn-stream-name", s);
            req.set("x-amzn-fragment-timecode-type", "ABSOLUTE");
        }));
        ws_.handshake("127.0.0.1", "/putMedia");
        ws_.binary(true);
        // Masks whole messages at once, as libwebsockets does (Beast's default buffer is 4 KiB).
        ws_.write_buffer_bytes(kMessageBytes);
        kinema::media::SegmentHeader header;
        kinema::media::TrackInfo track;
        track.codec_id = std::string(kinema::media::kCodecH264);
        track.codec_private = {1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x00, 0x01, 0x00, 0x00};
        track.pixel_width = 1280;
        track.pixel_height = 720;
        header.tracks.push_back(track);
        Bytes bytes;
        kinema::media::mkv::write_stream_header(header, bytes);
        send(std::move(bytes));
        started_ = Clock::now();
        read();
        next_frame();
    }

    bool done() const { return finished_ && (pending_.empty() || gave_up_); }
    void give_up() { gave_up_ = true; }

private:
    void next_frame() {
        const bool out_of_time =
            Clock::now() >= stop_at_ || (max_fragments_ > 0 && frame_ >= max_fragments_ * kFps);
        if (out_of_time && frame_ % kFps == 0) return finish();
        Bytes bytes;
        const bool key = frame_ % kFps == 0;
        const std::int64_t timecode = kEpochMs + frame_ * 1000 / kFps;
        if (key) {
            if (frame_ > 0)
                pending_[current_fragment_] = Clock::now();  // this byte completes the previous one
            current_fragment_ = timecode;
            ++stats_.fragments_completed;
            kinema::media::mkv::write_cluster_start(timecode, bytes);
        }
        Bytes payload(key ? kKeyFrameBytes : kFrameBytes, static_cast<std::uint8_t>(frame_));
        const std::int64_t t = now_ns();
        std::memcpy(payload.data(), &t, sizeof t);
        (void)kinema::media::mkv::write_simple_block(1, frame_ % kFps * 1000 / kFps, key, payload, bytes);
        stats_.bytes += bytes.size();
        if (paced_) {
            send(std::move(bytes));
        } else {
            // As fast as it goes, the producer SDK's transport has a backlog and sends it in messages of
            // up to 64 KiB (ws_transport.cpp kChunkSize), not one per frame: do the same.
            backlog_.insert(backlog_.end(), bytes.begin(), bytes.end());
            while (backlog_.size() >= kMessageBytes) {
                send(Bytes(backlog_.begin(), backlog_.begin() + kMessageBytes));
                backlog_.erase(backlog_.begin(), backlog_.begin() + kMessageBytes);
            }
        }
        ++frame_;
        if (paced_) {
            timer_.expires_at(started_ + std::chrono::milliseconds(frame_ * 1000 / kFps));
            timer_.async_wait([self = shared_from_this()](beast::error_code) { self->next_frame(); });
        } else if (queue_.size() < 4) {
            asio::post(ws_.get_executor(), [self = shared_from_this()] { self->next_frame(); });
        } else {
            waiting_for_writes_ = true;
        }
    }

    void finish() {
        Bytes tags;
        const std::vector<kinema::media::SimpleTag> end{{"KINEMA_END_OF_FRAGMENT", "1"}};
        kinema::media::mkv::write_tags(end, tags);
        pending_[current_fragment_] = Clock::now();
        if (!backlog_.empty()) send(std::move(backlog_));
        send(std::move(tags));
        finished_ = true;
    }

    void send(Bytes bytes) {
        queue_.push_back(std::move(bytes));
        if (queue_.size() == 1) write();
    }

    void write() {
        ws_.async_write(asio::buffer(queue_.front()),
                        [self = shared_from_this()](beast::error_code ec, std::size_t) {
                            if (ec) return;
                            self->queue_.pop_front();
                            if (!self->queue_.empty()) self->write();
                            if (self->waiting_for_writes_ && self->queue_.size() < 4) {
                                self->waiting_for_writes_ = false;
                                self->next_frame();
                            }
                        });
    }

    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t) {
            if (ec) return;
            auto ack = kinema::server::parse_ack(beast::buffers_to_string(self->buffer_.data()));
            self->buffer_.consume(self->buffer_.size());
            if (ack) self->on_ack(*ack);
            if (self->done()) {
                beast::error_code ignored;
                beast::get_lowest_layer(self->ws_).socket().close(ignored);
                return;
            }
            self->read();
        });
    }

    void on_ack(const kinema::server::Ack& ack) {
        using kinema::server::AckEventType;
        auto it = pending_.find(ack.fragment_timecode);
        const double ms = it == pending_.end()
                              ? -1
                              : std::chrono::duration<double, std::milli>(Clock::now() - it->second).count();
        if (ack.type == AckEventType::received && ms >= 0) stats_.received_ms.push_back(ms);
        if (ack.type == AckEventType::persisted) {
            ++stats_.persisted;
            if (ms >= 0) stats_.persisted_ms.push_back(ms);
            if (it != pending_.end()) pending_.erase(it);
        }
        if (ack.type == AckEventType::error) ++stats_.errors;
    }

    websocket::stream<beast::tcp_stream> ws_;
    asio::steady_timer timer_;
    std::uint16_t port_;
    std::string stream_;
    bool paced_;
    int max_fragments_;
    ProducerStats& stats_;
    Clock::time_point stop_at_;
    Clock::time_point started_;
    std::deque<Bytes> queue_;
    beast::flat_buffer buffer_;
    std::map<std::int64_t, Clock::time_point> pending_;  // fragment timecode -> when it was complete
    std::int64_t current_fragment_ = 0;
    int frame_ = 0;
    bool finished_ = false;
    bool gave_up_ = false;
    bool waiting_for_writes_ = false;
    Bytes backlog_;  // not paced: bytes not yet sent, in 64 KiB messages
};

// ---- Viewer --------------------------------------------------------------------------------------------

class Viewer : public std::enable_shared_from_this<Viewer>, public kinema::media::MkvReaderHandler {
public:
    Viewer(asio::io_context& ioc, std::uint16_t port, std::string stream, std::vector<double>* latencies)
        : ws_(ioc), port_(port), stream_(std::move(stream)), latencies_(latencies), reader_(*this) {}

    void start() {
        beast::get_lowest_layer(ws_).connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), port_));
        beast::get_lowest_layer(ws_).socket().set_option(tcp::no_delay(true));
        ws_.handshake("127.0.0.1", "/getMedia?StreamName=" + stream_ + "&StartSelectorType=NOW");
        read();
    }
    void stop() {
        beast::error_code ec;
        beast::get_lowest_layer(ws_).socket().close(ec);
    }
    std::uint64_t bytes() const { return bytes_; }

    void on_frame(const kinema::media::Frame& frame) override {
        if (frame.payload.size() < 8) return;
        std::int64_t sent = 0;
        std::memcpy(&sent, frame.payload.data(), sizeof sent);
        latencies_->push_back(static_cast<double>(now_ns() - sent) / 1e6);
    }

private:
    void read() {
        ws_.async_read(buffer_, [self = shared_from_this()](beast::error_code ec, std::size_t n) {
            if (ec) return;
            self->bytes_ += n;
            if (self->latencies_) {
                const auto data = self->buffer_.cdata();
                (void)self->reader_.feed({static_cast<const std::uint8_t*>(data.data()), data.size()});
            }
            self->buffer_.consume(self->buffer_.size());
            self->read();
        });
    }

    websocket::stream<beast::tcp_stream> ws_;
    std::uint16_t port_;
    std::string stream_;
    std::vector<double>* latencies_;
    kinema::media::MkvReader reader_;
    beast::flat_buffer buffer_;
    std::uint64_t bytes_ = 0;
};

void create_stream(std::uint16_t port, const std::string& name) {
    http_post(port, "/createStream", "{\"StreamName\":\"" + name + "\",\"DataRetentionInHours\":24}");
}

// Runs producers until they are done (every fragment PERSISTED) or `grace` after `stop_at`.
void run_producers(asio::io_context& ioc, std::vector<std::shared_ptr<Producer>>& producers,
                   Clock::time_point stop_at, std::chrono::seconds grace) {
    while (Clock::now() < stop_at + grace) {
        ioc.run_for(std::chrono::milliseconds(100));
        if (std::all_of(producers.begin(), producers.end(), [](const auto& p) { return p->done(); })) break;
    }
    for (auto& p : producers)
        p->give_up();
}

// The same stream as fast as it goes over chunked HTTP PutMedia (KVS's own transport, no WebSocket masking),
// from a stream built before the clock starts: the cheapest client there is, so the figure is the server's.
// Returns Mbit/s from the first byte sent to the last fragment's PERSISTED.
struct Throughput {
    double mbps = 0;
    double server_cpu_pct = 0;
};

Throughput http_single_stream(const ServerProcess& server, const std::string& name, int fragments) {
    Bytes stream;
    {
        kinema::media::SegmentHeader header;
        kinema::media::TrackInfo track;
        track.codec_id = std::string(kinema::media::kCodecH264);
        track.codec_private = {1, 0x64, 0x00, 0x1F, 0xFF, 0xE1, 0x00, 0x00, 0x01, 0x00, 0x00};
        header.tracks.push_back(track);
        kinema::media::mkv::write_stream_header(header, stream);
        for (int frame = 0; frame < fragments * kFps; ++frame) {
            const bool key = frame % kFps == 0;
            if (key) kinema::media::mkv::write_cluster_start(kEpochMs + frame * 1000 / kFps, stream);
            Bytes payload(key ? kKeyFrameBytes : kFrameBytes, static_cast<std::uint8_t>(frame));
            (void)kinema::media::mkv::write_simple_block(1, frame % kFps * 1000 / kFps, key, payload, stream);
        }
        const std::vector<kinema::media::SimpleTag> end{{"KINEMA_END_OF_FRAGMENT", "1"}};
        kinema::media::mkv::write_tags(end, stream);
    }
    asio::io_context ioc;
    tcp::socket socket(ioc);
    socket.connect(tcp::endpoint(asio::ip::make_address("127.0.0.1"), server.port()));
    const std::string head =
        "POST /putMedia HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
        "x-amzn-stream-name: " +
        name + "\r\nx-amzn-fragment-timecode-type: ABSOLUTE\r\n\r\n";
    const double cpu0 = server.cpu_seconds();
    const auto t0 = Clock::now();
    asio::write(socket, asio::buffer(head));
    // ACKs are read on another thread while this one sends, as a real producer does.
    std::thread acks([&] {
        std::string text;
        std::array<char, 16384> buf{};
        int persisted = 0;
        beast::error_code ec;
        while (persisted < fragments) {
            const std::size_t n = socket.read_some(asio::buffer(buf), ec);
            if (ec) break;
            text.append(buf.data(), n);
            for (std::size_t at; (at = text.find("PERSISTED")) != std::string::npos; text.erase(0, at + 9))
                ++persisted;
            if (text.size() > 16) text.erase(0, text.size() - 16);
        }
    });
    for (std::size_t at = 0; at < stream.size(); at += kMessageBytes) {
        const std::size_t n = std::min(kMessageBytes, stream.size() - at);
        char size[24];
        const int len = std::snprintf(size, sizeof size, "%zx\r\n", n);
        const std::array<asio::const_buffer, 3> chunk{asio::buffer(size, static_cast<std::size_t>(len)),
                                                      asio::buffer(stream.data() + at, n),
                                                      asio::buffer("\r\n", 2)};
        asio::write(socket, chunk);
    }
    asio::write(socket, asio::buffer("0\r\n\r\n", 5));
    acks.join();
    const double seconds = std::chrono::duration<double>(Clock::now() - t0).count();
    return {static_cast<double>(stream.size()) * 8 / seconds / 1e6,
            100 * (server.cpu_seconds() - cpu0) / seconds};
}

double raw_append_mbps(const fs::path& dir, int fragments) {
    auto store = kinema::storage::FragmentStore::open(dir);
    (void)store->open_stream("raw", 24);
    Bytes fragment(kKeyFrameBytes + (kFps - 1) * kFrameBytes, 0x5A);
    const auto start = Clock::now();
    for (int i = 0; i < fragments; ++i) {
        kinema::storage::FragmentMetadata metadata;
        metadata.producer_timestamp = kinema::media::Timestamp::from_milliseconds(kEpochMs + 1000 * i);
        metadata.server_timestamp = kinema::media::Timestamp::now();
        metadata.duration = std::chrono::seconds(1);
        metadata.frame_count = kFps;
        metadata.track_numbers = {1};
        kinema::storage::FragmentNumber number = 0;
        (void)store->append("raw", fragment, metadata, number);
    }
    (void)store->flush();
    const double seconds = std::chrono::duration<double>(Clock::now() - start).count();
    return static_cast<double>(fragment.size()) * fragments * 8 / seconds / 1e6;
}

}  // namespace

int main(int argc, char** argv) {
    int streams = 200;
    int seconds = 10;
    int viewers = 500;
    for (int i = 1; i + 1 < argc; i += 2) {
        const std::string flag = argv[i];
        if (flag == "--streams") streams = std::atoi(argv[i + 1]);
        if (flag == "--seconds") seconds = std::atoi(argv[i + 1]);
        if (flag == "--viewers") viewers = std::atoi(argv[i + 1]);
    }
    const fs::path dir = fs::temp_directory_path() / ("kinema-bench-ingest-" + std::to_string(getpid()));
    fs::create_directories(dir);
    {
        ServerProcess server(dir);
        const auto port = server.port();

        // 1. `streams` producers at 2 Mbit/s.
        {
            for (int i = 0; i < streams; ++i)
                create_stream(port, "s" + std::to_string(i));
            asio::io_context ioc;
            ProducerStats stats;
            std::vector<std::shared_ptr<Producer>> producers;
            const auto stop_at = Clock::now() + std::chrono::seconds(seconds);
            for (int i = 0; i < streams; ++i) {
                producers.push_back(
                    std::make_shared<Producer>(ioc, port, "s" + std::to_string(i), true, 0, stats));
                producers.back()->start(stop_at);
            }
            const double cpu0 = server.cpu_seconds();
            const double client_cpu0 = self_cpu_seconds();
            const auto t0 = Clock::now();
            run_producers(ioc, producers, stop_at, std::chrono::seconds(5));
            const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
            std::printf("streams: %d\n", streams);
            std::printf("server_cpu_pct: %.1f\n", 100 * (server.cpu_seconds() - cpu0) / wall);
            std::printf("load_generator_cpu_pct: %.1f\n", 100 * (self_cpu_seconds() - client_cpu0) / wall);
            std::printf("ack_received_p50_ms: %.2f\n", percentile(stats.received_ms, 0.50));
            std::printf("ack_received_p99_ms: %.2f\n", percentile(stats.received_ms, 0.99));
            std::printf("ack_persisted_p50_ms: %.2f\n", percentile(stats.persisted_ms, 0.50));
            std::printf("ack_persisted_p99_ms: %.2f\n", percentile(stats.persisted_ms, 0.99));
            std::printf("fragments_sent: %llu\n", static_cast<unsigned long long>(stats.fragments_completed));
            std::printf("fragments_lost: %lld\n", static_cast<long long>(stats.fragments_completed) -
                                                      static_cast<long long>(stats.persisted));
            std::printf("error_acks: %llu\n", static_cast<unsigned long long>(stats.errors));
            std::fflush(stdout);
        }

        // 2. One stream as fast as it goes, next to the store's raw append rate on the same disk. This VM's
        //    page cache and disk vary a lot from second to second: three rounds, each running the WebSocket
        //    producer, the chunked-HTTP producer and the raw append back to back; each figure is its best
        //    round (as kinema-bench-storage does), and the CPU figures are those of the best round.
        {
            // Phase 1 left hundreds of MB of dirty pages; their writeback would compete with this phase.
            ::sync();
            constexpr int kFragments = 400;  // 97 MB per run
            Throughput ws_best;
            Throughput http_best;
            double client_cpu_pct = 0;
            double raw = 0;
            for (int round = 0; round < 3; ++round) {
                const std::string name = "fast" + std::to_string(round);
                create_stream(port, name);
                asio::io_context ioc;
                ProducerStats stats;
                std::vector<std::shared_ptr<Producer>> producers{
                    std::make_shared<Producer>(ioc, port, name, false, kFragments, stats)};
                const double cpu0 = server.cpu_seconds();
                const double client_cpu0 = self_cpu_seconds();
                const auto t0 = Clock::now();
                producers[0]->start(Clock::now() + std::chrono::hours(1));
                run_producers(ioc, producers, Clock::now(), std::chrono::seconds(60));
                const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
                const double mbps = static_cast<double>(stats.bytes) * 8 / wall / 1e6;
                if (mbps > ws_best.mbps) {
                    ws_best = {mbps, 100 * (server.cpu_seconds() - cpu0) / wall};
                    client_cpu_pct = 100 * (self_cpu_seconds() - client_cpu0) / wall;
                }
                create_stream(port, name + "-http");
                const Throughput http = http_single_stream(server, name + "-http", kFragments);
                if (http.mbps > http_best.mbps) http_best = http;
                raw = std::max(raw, raw_append_mbps(dir / ("raw" + std::to_string(round)), kFragments));
            }
            std::printf("single_stream_mbps: %.0f\n", ws_best.mbps);
            std::printf("single_stream_server_cpu_pct: %.1f\n", ws_best.server_cpu_pct);
            std::printf("single_stream_load_generator_cpu_pct: %.1f\n", client_cpu_pct);
            std::printf("single_stream_http_mbps: %.0f\n", http_best.mbps);
            std::printf("single_stream_http_server_cpu_pct: %.1f\n", http_best.server_cpu_pct);
            std::printf("raw_append_mbps: %.0f\n", raw);
            std::printf("single_stream_ratio: %.2f\n", ws_best.mbps / raw);
            std::printf("single_stream_http_ratio: %.2f\n", http_best.mbps / raw);
            std::fflush(stdout);
        }

        // 3. Live latency: producer -> server -> WebSocket viewer, per frame.
        // 4. Fan-out: `viewers` viewers of one 2 Mbit/s stream.
        for (const int count : {1, viewers}) {
            const std::string name = count == 1 ? "live" : "fanout";
            create_stream(port, name);
            asio::io_context ioc;
            std::vector<double> latencies;
            std::vector<std::shared_ptr<Viewer>> watching;
            for (int i = 0; i < count; ++i) {
                watching.push_back(
                    std::make_shared<Viewer>(ioc, port, name, count == 1 ? &latencies : nullptr));
                watching.back()->start();
            }
            ProducerStats stats;
            std::vector<std::shared_ptr<Producer>> producers{
                std::make_shared<Producer>(ioc, port, name, true, 0, stats)};
            const auto stop_at = Clock::now() + std::chrono::seconds(seconds);
            const double cpu0 = server.cpu_seconds();
            const auto t0 = Clock::now();
            producers[0]->start(stop_at);
            run_producers(ioc, producers, stop_at, std::chrono::seconds(3));
            const double wall = std::chrono::duration<double>(Clock::now() - t0).count();
            if (count == 1) {
                std::printf("live_latency_p50_ms: %.2f\n", percentile(latencies, 0.50));
                std::printf("live_latency_p99_ms: %.2f\n", percentile(latencies, 0.99));
                std::printf("live_frames_measured: %zu\n", latencies.size());
            } else {
                std::uint64_t bytes = 0;
                for (const auto& v : watching)
                    bytes += v->bytes();
                const auto metrics = http_post(port, "/metrics", "");
                const std::string key = "kinema_live_frames_skipped_total{stream=\"fanout\"} ";
                const auto at = metrics.find(key);
                std::printf("fanout_viewers: %d\n", count);
                std::printf("fanout_server_cpu_pct: %.1f\n", 100 * (server.cpu_seconds() - cpu0) / wall);
                std::printf(
                    "fanout_frames_skipped: %s\n",
                    at == std::string::npos
                        ? "?"
                        : metrics.substr(at + key.size(), metrics.find('\n', at) - at - key.size()).c_str());
                std::printf("fanout_mbytes_delivered: %.1f\n", static_cast<double>(bytes) / 1e6);
            }
            for (auto& v : watching)
                v->stop();
            ioc.run_for(std::chrono::milliseconds(200));
            std::fflush(stdout);
        }
    }
    fs::remove_all(dir);
    return 0;
}
