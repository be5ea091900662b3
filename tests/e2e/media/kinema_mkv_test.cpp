// kinema-mkv as a person runs it: on a real file, with --json, on a GetMedia-style concatenation, and on
// bad input (what was read, then the error with its byte offset, exit status 1).
#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "subprocess.h"

namespace kinema {
namespace {

using test::run_command;
using test::shell_quote;

class KinemaMkvTool : public ::testing::Test {
protected:
    static void SetUpTestSuite() {
        dir_ = new test::TempDir();
        // 4 s at 25 fps with a 1 s GOP, fragmented by the sample the demo uses.
        auto h264 = *dir_ / "clip.h264";
        ASSERT_EQ(
            run_command("ffmpeg -hide_banner -loglevel error -f lavfi -i testsrc2=size=160x120:rate=25 "
                        "-frames:v 100 -c:v libx264 -preset ultrafast -g 25 -keyint_min 25 -sc_threshold 0 "
                        "-bf 0 -f h264 " +
                        shell_quote(h264.string()))
                .exit_code,
            0);
        ASSERT_EQ(run_command(std::string(KINEMA_H264_TO_MKV) + " --start-ms 1700000000000 " +
                              shell_quote(h264.string()) + " " + shell_quote((*dir_ / "clip.mkv").string()))
                      .exit_code,
                  0);
    }
    static void TearDownTestSuite() { delete dir_; }

    static test::CommandResult mkv(const std::string& args) {
        return run_command(std::string(KINEMA_MKV) + " " + args + " 2>&1");
    }

    static test::TempDir* dir_;
};
test::TempDir* KinemaMkvTool::dir_ = nullptr;

TEST_F(KinemaMkvTool, PrintsTracksAndOneLinePerFragment) {
    auto result = mkv("info " + shell_quote((*dir_ / "clip.mkv").string()));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    EXPECT_NE(result.output.find("video V_MPEG4/ISO/AVC 160x120"), std::string::npos) << result.output;
    // x264 -preset ultrafast writes Constrained Baseline (profile_idc 66).
    EXPECT_NE(result.output.find("(avcC Baseline@"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("1700000000.000"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find("4 fragments, 100 frames (4 key)"), std::string::npos) << result.output;
}

TEST_F(KinemaMkvTool, JsonHasTheDocumentedShape) {
    auto result =
        run_command(std::string(KINEMA_MKV) + " info --json " + shell_quote((*dir_ / "clip.mkv").string()));
    ASSERT_EQ(result.exit_code, 0) << result.output;
    auto json = nlohmann::json::parse(result.output);
    ASSERT_EQ(json["tracks"].size(), 1u);
    EXPECT_EQ(json["tracks"][0]["codec_id"], "V_MPEG4/ISO/AVC");
    EXPECT_EQ(json["tracks"][0]["width"], 160);
    ASSERT_EQ(json["fragments"].size(), 4u);
    std::int64_t expected_offset = json["fragments"][0]["offset"];
    for (std::size_t i = 0; i < 4; ++i) {
        const auto& f = json["fragments"][i];
        EXPECT_EQ(f["offset"], expected_offset) << "fragments are contiguous";
        expected_offset += f["size"].get<std::int64_t>();
        EXPECT_EQ(f["timecode_ms"], 1'700'000'000'000 + static_cast<std::int64_t>(i) * 1000);
        EXPECT_EQ(f["duration_ms"], 1000);
        EXPECT_EQ(f["frames"], 25);
        EXPECT_EQ(f["key_frames"], 1);
    }
    auto size = std::filesystem::file_size(*dir_ / "clip.mkv");
    EXPECT_EQ(expected_offset, static_cast<std::int64_t>(size)) << "the last fragment ends the file";
}

TEST_F(KinemaMkvTool, ReadsConcatenatedStreamsFromStdin) {
    auto clip = shell_quote((*dir_ / "clip.mkv").string());
    auto result = run_command("cat " + clip + " " + clip + " | " + KINEMA_MKV + " info --json -");
    ASSERT_EQ(result.exit_code, 0) << result.output;
    auto json = nlohmann::json::parse(result.output);
    EXPECT_EQ(json["segments"], 2);
    EXPECT_EQ(json["fragments"].size(), 8u);
}

TEST_F(KinemaMkvTool, BadInputPrintsWhatWasReadThenTheErrorOffset) {
    auto bytes = test::read_file(*dir_ / "clip.mkv");
    auto cut = *dir_ / "cut.mkv";
    // Keep the header and most of the stream, then garbage: an invalid element id.
    bytes.resize(bytes.size() * 3 / 4);
    bytes.insert(bytes.end(), {0x00, 0x00, 0x00, 0x00});
    test::write_file(cut, bytes);
    auto result = mkv("info " + shell_quote(cut.string()));
    EXPECT_EQ(result.exit_code, 1) << result.output;
    EXPECT_NE(result.output.find("Track 1: video"), std::string::npos) << result.output;
    EXPECT_NE(result.output.find(" at byte "), std::string::npos) << result.output;

    auto json =
        run_command(std::string(KINEMA_MKV) + " info --json " + shell_quote(cut.string()) + " 2>/dev/null");
    EXPECT_EQ(json.exit_code, 1);
    auto parsed = nlohmann::json::parse(json.output);
    EXPECT_TRUE(parsed.contains("error"));
    EXPECT_GT(parsed["error"]["offset"].get<std::uint64_t>(), 0u);
    EXPECT_GE(parsed["fragments"].size(), 1u);
}

TEST_F(KinemaMkvTool, MissingFileIsAClearError) {
    auto result = mkv("info /nonexistent/file.mkv");
    EXPECT_EQ(result.exit_code, 2);
    EXPECT_NE(result.output.find("cannot open /nonexistent/file.mkv"), std::string::npos) << result.output;
}

}  // namespace
}  // namespace kinema
