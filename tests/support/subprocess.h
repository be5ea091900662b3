// Running outside programs (ffmpeg, ffprobe, gst-launch-1.0, mkvinfo, curl ...) from tests.
#pragma once

#include <filesystem>
#include <string>
#include <vector>

namespace kinema::test {

struct CommandResult {
    int exit_code = -1;
    std::string output;  // standard output (standard error goes to the test log)
};

// Runs `command` through /bin/sh and captures its standard output.
CommandResult run_command(const std::string& command);

// Quotes a path or argument for /bin/sh.
std::string shell_quote(const std::string& text);

// A fresh directory under the system temp directory, removed with its contents on destruction.
class TempDir {
public:
    TempDir();
    ~TempDir();
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }
    std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

private:
    std::filesystem::path path_;
};

std::vector<std::uint8_t> read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, const std::vector<std::uint8_t>& bytes);

}  // namespace kinema::test
