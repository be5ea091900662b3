// kinema-put as a person runs it: ffmpeg-made MP4, MKV and raw .h264 inputs written with --output and
// checked with ffprobe/ffmpeg (frames decode to the same pictures, key frames kept) and kinema-mkv
// (fragments = GOPs, timecodes = --start-time + the file's times); the same run against a fake PutMedia
// server sends exactly the bytes --output writes; clear errors for a missing file, another codec and an
// unreachable server.
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <spawn.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <nlohmann/json.hpp>
#include <sstream>

#include "fake_putmedia_server.h"
#include "subprocess.h"

namespace kinema {
namespace {

using test::run_command;
using test::shell_quote;

constexpr int kFrames = 90;  // 3 s at 30 fps, a GOP every 30 frames: 3 fragments
constexpr const char* kStart = "1700000000.000";

class KinemaPut : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir();
        // B-frames on (x264's default): packets in decode order, PTS reordered, as real files are.
        const std::string encode =
            "ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=320x240:rate=30 -frames:v " +
            std::to_string(kFrames) +
            " -c:v libx264 -preset ultrafast -bf 2 -g 30 -keyint_min 30 -sc_threshold 0 " +
            "-pix_fmt yuv420p ";
        ASSERT_EQ(run_command(encode + shell_quote(path("in.mp4"))).exit_code, 0);
        ASSERT_EQ(run_command("ffmpeg -hide_banner -loglevel error -i " + shell_quote(path("in.mp4")) +
                              " -c copy " + shell_quote(path("in.mkv")))
                      .exit_code,
                  0);
        ASSERT_EQ(run_command(encode + "-bf 0 -f h264 " + shell_quote(path("in.h264"))).exit_code, 0);
        ASSERT_EQ(run_command("ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=160x120:rate=30 "
                              "-frames:v 30 -c:v mpeg4 " +
                              shell_quote(path("mpeg4.mp4")))
                      .exit_code,
                  0);
    }
    static void TearDownTestSuite() { delete dir_; }

    static std::string path(const std::string& name) { return (*dir_ / name).string(); }

    static test::CommandResult put(const std::string& args) {
        return run_command(std::string(KINEMA_PUT) + " " + args + " 2>&1");
    }

    // The MD5 of every decoded picture, in order (ffmpeg's framemd5, timestamps left out).
    static std::vector<std::string> picture_md5s(const std::string& file) {
        const auto result = run_command("ffmpeg -hide_banner -loglevel error -i " + shell_quote(file) +
                                        " -map 0:v -f framemd5 -");
        std::vector<std::string> md5s;
        std::istringstream lines(result.output);
        for (std::string line; std::getline(lines, line);) {
            if (line.empty() || line[0] == '#') continue;
            md5s.push_back(line.substr(line.rfind(',') + 1));
        }
        return md5s;
    }

    static test::TempDir* dir_;
};
test::TempDir* KinemaPut::dir_ = nullptr;

class KinemaPutInputs : public KinemaPut, public ::testing::WithParamInterface<const char*> {};

TEST_P(KinemaPutInputs, OutputIsTheFileAsFragmentsOfOneGopEach) {
    const std::string input = path(GetParam());
    const std::string output = path(std::string(GetParam()) + ".out.mkv");
    const auto result = put("--quiet --as-fast-as-possible --start-time " + std::string(kStart) +
                            " --output " + shell_quote(output) + " " + shell_quote(input));
    ASSERT_EQ(result.exit_code, 0) << result.output;

    // ffprobe: every frame is there and decodes; key frames are kept.
    const auto probe = run_command(
        "ffprobe -v error -count_frames -select_streams v -show_entries "
        "stream=codec_name,width,height,nb_read_frames -of json " +
        shell_quote(output));
    ASSERT_EQ(probe.exit_code, 0);
    const auto stream = nlohmann::json::parse(probe.output)["streams"][0];
    EXPECT_EQ(stream["codec_name"], "h264");
    EXPECT_EQ(stream["width"], 320);
    EXPECT_EQ(stream["nb_read_frames"], std::to_string(kFrames));
    const auto keys =
        run_command("ffprobe -v error -select_streams v -show_entries packet=flags -of csv=p=0 " +
                    shell_quote(output) + " | grep -c K");
    EXPECT_EQ(std::stoi(keys.output), kFrames / 30);
    // Same pictures as the input, in the same order: nothing lost, duplicated or damaged.
    EXPECT_EQ(picture_md5s(output), picture_md5s(input));

    // kinema-mkv: one fragment per GOP, starting at --start-time plus the file's times.
    const auto info = run_command(std::string(KINEMA_MKV) + " info --json " + shell_quote(output));
    ASSERT_EQ(info.exit_code, 0) << info.output;
    const auto json = nlohmann::json::parse(info.output);
    ASSERT_EQ(json["fragments"].size(), static_cast<std::size_t>(kFrames / 30));
    for (std::size_t i = 0; i < json["fragments"].size(); ++i) {
        const auto& fragment = json["fragments"][i];
        EXPECT_EQ(fragment["frames"], 30) << i;
        EXPECT_EQ(fragment["key_frames"], 1) << i;
        EXPECT_EQ(fragment["timecode_ms"], 1'700'000'000'000 + static_cast<std::int64_t>(i) * 1000) << i;
    }
}

INSTANTIATE_TEST_SUITE_P(Ffmpeg, KinemaPutInputs, ::testing::Values("in.mp4", "in.mkv", "in.h264"),
                         [](const ::testing::TestParamInfo<const char*>& param) {
                             std::string name = param.param;
                             name[2] = '_';
                             return name;
                         });

TEST_F(KinemaPut, SendsToAServerExactlyWhatOutputWrites) {
    producer::testing::FakePutMediaServer server;
    const auto result =
        put("--quiet --as-fast-as-possible --start-time " + std::string(kStart) + " --endpoint " +
            server.endpoint() + " --stream cam1 " + shell_quote(path("in.mp4")));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const std::string output = path("same.mkv");
    ASSERT_EQ(put("--quiet --as-fast-as-possible --start-time " + std::string(kStart) + " --output " +
                  shell_quote(output) + " " + shell_quote(path("in.mp4")))
                  .exit_code,
              0);
    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_EQ(sessions[0].stream_name, "cam1");
    EXPECT_EQ(sessions[0].clusters.size(), static_cast<std::size_t>(kFrames / 30));
    EXPECT_TRUE(sessions[0].data == test::read_file(output));
}

TEST_F(KinemaPut, ProgressLinesShowFramesFragmentsAndAcks) {
    producer::testing::FakePutMediaServer server;
    const auto result = put("--as-fast-as-possible --endpoint " + server.endpoint() + " --stream cam1 " +
                            shell_quote(path("in.mkv")));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    // Not a terminal: plain lines, the last one with the totals.
    const std::string last = result.output.substr(result.output.rfind("frames "));
    EXPECT_NE(last.find("frames 90  fragments 3  acks 3 persisted"), std::string::npos) << result.output;
    EXPECT_EQ(result.output.find('\r'), std::string::npos);
}

TEST_F(KinemaPut, MissingFileIsAClearError) {
    const auto result = put("--output " + shell_quote(path("x.mkv")) + " " + shell_quote(path("nope.mp4")));
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("no such file: " + path("nope.mp4")), std::string::npos) << result.output;
}

TEST_F(KinemaPut, OtherCodecsAreNamed) {
    const auto result = put("--output " + shell_quote(path("x.mkv")) + " " + shell_quote(path("mpeg4.mp4")));
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("unsupported codec mpeg4"), std::string::npos) << result.output;
}

TEST_F(KinemaPut, UnreachableServerFailsAfterTheStopTimeoutSayingWhatWasNotAcknowledged) {
    // A loopback port nothing listens on: bound, then closed.
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr);
    socklen_t length = sizeof addr;
    ::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &length);
    ::close(fd);
    const auto result =
        put("--quiet --as-fast-as-possible --stop-timeout 0.5 --endpoint ws://127.0.0.1:" +
            std::to_string(ntohs(addr.sin_port)) + " --stream cam1 " + shell_quote(path("in.h264")));
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("3 fragments (90 frames"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("not acknowledged"), std::string::npos) << result.output;
}

TEST_F(KinemaPut, UploadStopsWhenTheServerStopsAcknowledging) {
    producer::testing::FakePutMediaServer server(producer::testing::FakePutMediaServer::Mode::silent);
    const auto result =
        put("--quiet --as-fast-as-possible --buffer-duration 1 --stop-timeout 0.3 --endpoint " +
            server.endpoint() + " --stream cam1 " + shell_quote(path("in.h264")));
    EXPECT_EQ(result.exit_code, 1);
    EXPECT_NE(result.output.find("upload stopped"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("not acknowledged"), std::string::npos) << result.output;
}

// Real-time pacing (the default) and Ctrl-C: interrupted early, kinema-put ends the open fragment, waits for
// its acknowledgement and exits 0; the server got the first fragments, not the whole 10 s file.
TEST_F(KinemaPut, PacedStreamStopsCleanlyOnSigint) {
    const std::string input = path("ten_seconds.mp4");
    ASSERT_EQ(
        run_command("ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=160x120:rate=30 -frames:v "
                    "300 -c:v libx264 -preset ultrafast -g 30 -bf 0 " +
                    shell_quote(input))
            .exit_code,
        0);
    producer::testing::FakePutMediaServer server;
    const std::string endpoint = server.endpoint();
    std::vector<std::string> args = {KINEMA_PUT, "--quiet", "--endpoint", endpoint,
                                     "--stream", "cam1",    input};
    std::vector<char*> argv;
    for (auto& a : args)
        argv.push_back(a.data());
    argv.push_back(nullptr);
    pid_t pid = 0;
    ASSERT_EQ(::posix_spawn(&pid, KINEMA_PUT, nullptr, nullptr, argv.data(), environ), 0);
    const bool streaming =
        server.wait_for([](const auto& s) { return !s.empty() && !s[0].clusters.empty(); });
    ::kill(pid, SIGINT);
    int status = 0;
    ASSERT_EQ(::waitpid(pid, &status, 0), pid);
    ASSERT_TRUE(streaming);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_GE(sessions[0].clusters.size(), 1u);
    EXPECT_LT(sessions[0].clusters.size(), 10u);
}

TEST_F(KinemaPut, UsageErrorsAndHelp) {
    EXPECT_EQ(put(shell_quote(path("in.mp4"))).exit_code, 2);  // neither --endpoint nor --output
    EXPECT_EQ(put("--endpoint ws://127.0.0.1:1 " + shell_quote(path("in.mp4"))).exit_code, 2);  // no --stream
    const auto help = put("--help");
    EXPECT_EQ(help.exit_code, 0);
    for (const char* option :
         {"--endpoint", "--stream", "--output", "--create", "--retention-hours", "--fragment-duration",
          "--key-frame-fragmentation", "--as-fast-as-possible", "--start-time", "--stop-timeout",
          "--buffer-duration", "--test-pattern", "--v4l2"})
        EXPECT_NE(help.output.find(option), std::string::npos) << option;
}

#ifdef KINEMA_PUT_WITH_GSTREAMER
TEST_F(KinemaPut, TestPatternThroughGStreamer) {
    const std::string output = path("pattern.mkv");
    const auto result =
        put("--quiet --test-pattern --as-fast-as-possible --duration 2 --width 320 --height 240 "
            "--output " +
            shell_quote(output));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    const auto info = run_command(std::string(KINEMA_MKV) + " info --json " + shell_quote(output));
    ASSERT_EQ(info.exit_code, 0) << info.output;
    const auto json = nlohmann::json::parse(info.output);
    ASSERT_EQ(json["fragments"].size(), 2u);  // one-second GOPs
    for (const auto& fragment : json["fragments"]) {
        EXPECT_EQ(fragment["frames"], 30);
        EXPECT_EQ(fragment["key_frames"], 1);
    }
}
#endif

}  // namespace
}  // namespace kinema
