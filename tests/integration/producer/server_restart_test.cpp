// The server goes away mid-stream. Restart: the in-process kinema-server stops while the producer keeps
// putting frames, then starts again on the same data directory and the same port (the producer's endpoint
// is fixed; the server binds with SO_REUSEADDR); the producer reconnects and replays, and storage ends with
// every fragment exactly once, frames bit-exact. Dead network: the kinema-server binary, a child process,
// is frozen (SIGSTOP: connections stay open, nothing answers) or killed (SIGKILL) mid-stream, and stop()
// still returns within its timeout, reporting exactly the fragments that were not acknowledged.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <fstream>
#include <thread>

#include "producer_server_fixture.h"
#include "test_server.h"

extern char** environ;

namespace kinema::producer::testing {
namespace {

TEST(ServerRestart, ProducerReconnectsAndReplaysWithoutLossOrDuplicates) {
    const auto& source = real_h264(30);
    ASSERT_EQ(source.size(), 900u) << "ffmpeg could not make the test video";
    std::uint16_t port = 0;  // ephemeral at first, then the same number again on restart
    kinema::test::TestServer server([&port](server::ServerConfig& c) {
        c.listen_port = port;
        c.drain_timeout = 200ms;  // the PutMedia session in flight is cut, not waited for
    });
    port = server.port();
    AckLog acks;
    StreamConfig config;
    config.endpoint = "ws://127.0.0.1:" + std::to_string(port);
    config.stream_name = "cam1";
    config.create_if_missing = true;
    config.retention_hours = 24;
    config.reconnect_min_backoff = 5ms;
    config.reconnect_max_backoff = 100ms;
    Producer producer;
    Stream& stream = producer.add_stream(config, acks.callbacks());

    put_frames(stream, source, 0, 300);
    ASSERT_TRUE(acks.wait_for_persisted(3));
    server.stop();
    put_frames(stream, source, 300, 600);  // nothing listens: these wait in the content buffer
    server.restart();
    ASSERT_EQ(server.port(), port);
    put_frames(stream, source, 600, source.size());
    const StopReport report = stream.stop(30s);

    EXPECT_TRUE(report.all_acknowledged) << report.unacknowledged_fragments << " fragments unacknowledged";
    EXPECT_GE(stream.metrics().reconnects, 1u);
    EXPECT_TRUE(acks.dropped().empty());
    const auto expected = fragment_timecodes(source);
    const auto persisted = acks.persisted();
    EXPECT_EQ(std::vector<std::int64_t>(persisted.begin(), persisted.end()), expected);
    expect_stored_exactly(read_stored(server.port(), "cam1"), source);
}

// kinema-server as a child process on 127.0.0.1:0; the bound port comes from --port-file.
class ServerProcess {
public:
    explicit ServerProcess(const std::filesystem::path& dir) {
        const auto port_file = dir / "port";
        std::vector<std::string> args{
            KINEMA_SERVER_BINARY, "--listen",         "127.0.0.1:0", "--data-dir", (dir / "data").string(),
            "--port-file",        port_file.string(), "--log-level", "error"};
        std::vector<char*> argv;
        for (auto& a : args)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), environ);
        posix_spawn_file_actions_destroy(&actions);
        if (rc != 0) throw std::runtime_error("posix_spawn kinema-server failed");
        // The port file is written whole (by rename) once the server listens.
        const auto deadline = std::chrono::steady_clock::now() + 20s;
        while (port_ == 0 && std::chrono::steady_clock::now() < deadline) {
            std::ifstream in(port_file);
            if (!(in >> port_)) port_ = 0;
            if (port_ == 0) std::this_thread::sleep_for(20ms);  // polling a condition, not ordering
        }
    }
    ~ServerProcess() {
        ::kill(pid_, SIGKILL);
        ::kill(pid_, SIGCONT);
        ::waitpid(pid_, nullptr, 0);
    }
    std::uint16_t port() const { return port_; }
    void signal(int number) { ::kill(pid_, number); }

private:
    pid_t pid_ = -1;
    std::uint16_t port_ = 0;
};

class DeadServer : public ::testing::TestWithParam<int> {};

TEST_P(DeadServer, StopReturnsWithinItsTimeoutAndReportsWhatWasNotAcknowledged) {
    const auto& source = real_h264(10);
    ASSERT_EQ(source.size(), 300u) << "ffmpeg could not make the test video";
    kinema::test::TempDir dir;
    ServerProcess server(dir.path());
    ASSERT_NE(server.port(), 0) << "kinema-server did not start";
    AckLog acks;
    StreamConfig config;
    config.endpoint = "ws://127.0.0.1:" + std::to_string(server.port());
    config.stream_name = "cam1";
    config.create_if_missing = true;
    config.reconnect_min_backoff = 5ms;
    config.reconnect_max_backoff = 100ms;
    config.connect_timeout = 500ms;
    Producer producer;
    Stream& stream = producer.add_stream(config, acks.callbacks());
    put_frames(stream, source, 0, 90);
    ASSERT_TRUE(acks.wait_for_persisted(2));

    server.signal(GetParam());
    put_frames(stream, source, 90, source.size());
    const auto begin = std::chrono::steady_clock::now();
    const StopReport report = stream.stop(1s);
    const auto took = std::chrono::steady_clock::now() - begin;
    // Generous bound: the point is "does not hang" (KVS users report two minutes), not a latency figure.
    EXPECT_LT(took, 5s);
    EXPECT_TRUE(report.timed_out);
    EXPECT_FALSE(report.all_acknowledged);
    // What was not acknowledged is the tail of the stream: at least the 7 fragments put after the server
    // died, never one that on_ack saw PERSISTED.
    const auto expected = fragment_timecodes(source);
    ASSERT_GE(report.unacknowledged_fragments, 7u);
    ASSERT_EQ(report.unacknowledged_timecodes.size(), report.unacknowledged_fragments);
    const std::vector<std::int64_t> tail(expected.end() - report.unacknowledged_fragments, expected.end());
    EXPECT_EQ(report.unacknowledged_timecodes, tail);
    for (const auto timecode : acks.persisted())
        EXPECT_LT(timecode, tail.front());
    // Stopped means stopped.
    EXPECT_EQ(stream.put_frame(video_frame(source.front())), Errc::stopped);
}

INSTANTIATE_TEST_SUITE_P(Signals, DeadServer, ::testing::Values(SIGSTOP, SIGKILL),
                         [](const auto& param_info) {
                             return std::string(param_info.param == SIGSTOP ? "Frozen" : "Killed");
                         });

}  // namespace
}  // namespace kinema::producer::testing
