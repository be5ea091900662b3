// wss://: the producer streams over TLS to a server whose certificate it trusts through ca_path, and
// refuses one it does not (no session, nothing acknowledged, stop() still bounded). The certificates are
// made for each run with the openssl command line, valid for 127.0.0.1.
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>

#include "fake_putmedia_server.h"
#include "kinema/producer.h"
#include "subprocess.h"

// Seen with libwebsockets 4.1.6 and OpenSSL 3.0: destroying the fake server's TLS context leaves its
// certificate store behind (every leaked block is allocated under FakePutMediaServer's constructor; none
// under the producer). The fake server is test scaffolding, so that leak is suppressed by name, with full
// unwinding so the name is on the stack through OpenSSL's frames.
extern "C" const char* __lsan_default_suppressions() {
    return "leak:kinema::producer::testing::FakePutMediaServer::FakePutMediaServer\n";
}
extern "C" const char* __asan_default_options() {
    return "fast_unwind_on_malloc=0";
}

namespace kinema::producer {
namespace {

using namespace std::chrono_literals;
using testing::FakePutMediaServer;
using Bytes = std::vector<std::uint8_t>;

// A self-signed certificate and key for 127.0.0.1 in `dir`, named after `name`.
void make_certificate(const kinema::test::TempDir& dir, const std::string& name) {
    const std::string command =
        "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj "
        "/CN=127.0.0.1 "
        "-addext subjectAltName=IP:127.0.0.1 -keyout " +
        kinema::test::shell_quote((dir / (name + ".key")).string()) + " -out " +
        kinema::test::shell_quote((dir / (name + ".pem")).string()) + " 2>/dev/null";
    ASSERT_EQ(kinema::test::run_command(command).exit_code, 0) << command;
}

void put_fragments(Stream& stream, int fragments) {
    const Bytes sps_pps = {0,    0,    0,    1,    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9, 0x40, 0x50, 0x05, 0xbb,
                           0x01, 0x10, 0x00, 0x00, 0x03, 0x00, 0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83,
                           0x19, 0x60, 0,    0,    0,    1,    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
    for (int i = 0; i < fragments * 10; ++i) {
        const bool key = i % 10 == 0;
        Bytes data = key ? sps_pps : Bytes{};
        data.insert(data.end(), {0, 0, 0, 1, static_cast<std::uint8_t>(key ? 0x65 : 0x41)});
        data.resize(data.size() + 5000, static_cast<std::uint8_t>(i));
        VideoFrame f;
        f.data = data;
        f.pts = Timestamp::from_milliseconds(1'700'000'000'000 + i * 33);
        f.dts = f.pts;
        f.key = key;
        ASSERT_FALSE(stream.put_frame(f));
    }
}

StreamConfig config_for(const FakePutMediaServer& server, const std::string& ca_path) {
    StreamConfig c;
    c.endpoint = server.endpoint();
    c.stream_name = "cam1";
    c.ca_path = ca_path;
    c.reconnect_min_backoff = 10ms;
    c.reconnect_max_backoff = 100ms;
    c.connect_timeout = 2s;
    return c;
}

TEST(TlsTransport, StreamsToAServerWhoseCertificateIsTrusted) {
    kinema::test::TempDir dir;
    make_certificate(dir, "server");
    FakePutMediaServer server(FakePutMediaServer::Mode::ack, (dir / "server.pem").string(),
                              (dir / "server.key").string());
    ASSERT_EQ(server.endpoint().rfind("wss://", 0), 0u);
    Producer producer;
    Stream& stream = producer.add_stream(config_for(server, (dir / "server.pem").string()));
    put_fragments(stream, 3);
    const StopReport report = stream.stop(20s);
    EXPECT_TRUE(report.all_acknowledged);
    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_TRUE(sessions[0].started_with_ebml_header);
    EXPECT_EQ(sessions[0].clusters.size(), 3u);
    EXPECT_EQ(stream.metrics().acks_persisted, 3u);
}

TEST(TlsTransport, RefusesAServerWhoseCertificateIsNotTrusted) {
    kinema::test::TempDir dir;
    make_certificate(dir, "server");
    make_certificate(dir, "other");
    FakePutMediaServer server(FakePutMediaServer::Mode::ack, (dir / "server.pem").string(),
                              (dir / "server.key").string());
    std::atomic<int> ready{0};
    StreamCallbacks callbacks;
    callbacks.on_stream_ready = [&] { ++ready; };
    Producer producer;
    // Trusts only a different certificate: the handshake must fail, whatever the server would accept.
    Stream& stream = producer.add_stream(config_for(server, (dir / "other.pem").string()), callbacks);
    put_fragments(stream, 2);
    const StopReport report = stream.stop(1s);
    EXPECT_FALSE(report.all_acknowledged);
    EXPECT_EQ(report.unacknowledged_fragments, 2u);
    EXPECT_EQ(ready.load(), 0);
    EXPECT_TRUE(server.sessions().empty());
    EXPECT_EQ(stream.metrics().sessions, 0u);
}

}  // namespace
}  // namespace kinema::producer
