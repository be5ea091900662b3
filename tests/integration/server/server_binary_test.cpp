// The kinema-server binary itself: --help, flag and environment parsing, the "listening on" line and
// --port-file, and a clean exit on SIGTERM/SIGINT.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>
#include <regex>
#include <string>
#include <vector>

#include "http_client.h"
#include "subprocess.h"

extern char** environ;

namespace kinema::test {
namespace {

// A child process with its standard output on a pipe.
class Child {
public:
    Child(const std::vector<std::string>& args, const std::vector<std::string>& extra_env = {}) {
        int fds[2];
        if (pipe(fds) != 0) throw std::runtime_error("pipe failed");
        posix_spawn_file_actions_t actions;
        posix_spawn_file_actions_init(&actions);
        posix_spawn_file_actions_adddup2(&actions, fds[1], STDOUT_FILENO);
        posix_spawn_file_actions_addclose(&actions, fds[0]);
        std::vector<char*> argv;
        std::vector<std::string> all = args;
        all.insert(all.begin(), KINEMA_SERVER_BINARY);
        for (auto& a : all)
            argv.push_back(a.data());
        argv.push_back(nullptr);
        std::vector<std::string> env_strings(extra_env);
        for (char** e = environ; *e != nullptr; ++e)
            if (std::string(*e).rfind("KINEMA_", 0) != 0) env_strings.emplace_back(*e);
        std::vector<char*> envp;
        for (auto& e : env_strings)
            envp.push_back(e.data());
        envp.push_back(nullptr);
        const int rc = posix_spawn(&pid_, argv[0], &actions, nullptr, argv.data(), envp.data());
        posix_spawn_file_actions_destroy(&actions);
        close(fds[1]);
        out_ = fds[0];
        if (rc != 0) throw std::runtime_error("posix_spawn failed");
    }

    ~Child() {
        if (pid_ > 0) {
            kill(pid_, SIGKILL);
            waitpid(pid_, nullptr, 0);
        }
        close(out_);
    }

    // One line of standard output (blocks until it arrives; "" at end of output).
    std::string read_line() {
        std::string line;
        char c;
        while (read(out_, &c, 1) == 1) {
            if (c == '\n') return line;
            line.push_back(c);
        }
        return line;
    }

    std::string read_all() {
        std::string all;
        char buffer[4096];
        ssize_t n;
        while ((n = read(out_, buffer, sizeof buffer)) > 0)
            all.append(buffer, static_cast<std::size_t>(n));
        return all;
    }

    void signal(int number) { kill(pid_, number); }

    // The exit status, or -1 when killed by a signal.
    int wait() {
        int status = 0;
        waitpid(pid_, &status, 0);
        pid_ = -1;
        return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    }

private:
    pid_t pid_ = -1;
    int out_ = -1;
};

std::uint16_t port_from_listening_line(const std::string& line) {
    static const std::regex pattern(R"(^kinema-server listening on http://127\.0\.0\.1:(\d+) )");
    std::smatch match;
    if (!std::regex_search(line, match, pattern)) return 0;
    return static_cast<std::uint16_t>(std::stoi(match[1]));
}

TEST(ServerBinary, HelpExplainsEveryFlagAndVariable) {
    Child child({"--help"});
    const auto help = child.read_all();
    EXPECT_EQ(child.wait(), 0);
    for (const char* text : {"--listen", "KINEMA_LISTEN", "--data-dir", "KINEMA_DATA_DIR", "--public-url",
                             "--region", "--account", "--threads", "--max-body-bytes", "--log-level",
                             "--log-format", "--port-file", "--websocket-silence-timeout-ms",
                             "KINEMA_WEBSOCKET_SILENCE_TIMEOUT_MS", "127.0.0.1:8080", "kinema-data"})
        EXPECT_NE(help.find(text), std::string::npos) << text;
}

TEST(ServerBinary, RejectsAMalformedListenAddress) {
    Child child({"--listen", "localhost"});
    EXPECT_EQ(child.wait(), 2);
}

TEST(ServerBinary, ServesAndExitsCleanlyOnSigterm) {
    TempDir dir;
    const auto port_file = dir / "port";
    Child child({"--listen", "127.0.0.1:0", "--data-dir", (dir / "data").string(), "--port-file",
                 port_file.string(), "--log-format", "json"});
    const auto line = child.read_line();
    const auto port = port_from_listening_line(line);
    ASSERT_NE(port, 0) << line;
    // The port file is written (whole, by rename) before the line is printed.
    std::ifstream in(port_file);
    std::uint16_t from_file = 0;
    in >> from_file;
    EXPECT_EQ(from_file, port);

    HttpClient client(port);
    EXPECT_EQ(client.request("GET", "/healthz").status, 200u);
    EXPECT_EQ(client.post_json("/createStream", {{"StreamName", "cam1"}}).status, 200u);
    child.signal(SIGTERM);
    EXPECT_EQ(child.wait(), 0);
    EXPECT_TRUE(std::filesystem::exists(dir / "data" / "catalog.db"));
}

TEST(ServerBinary, EnvironmentVariablesConfigureItAndSigintStopsIt) {
    TempDir dir;
    Child child({}, {"KINEMA_LISTEN=127.0.0.1:0", "KINEMA_DATA_DIR=" + (dir / "env-data").string(),
                     "KINEMA_REGION=eu-central-1", "KINEMA_ACCOUNT=111122223333"});
    const auto port = port_from_listening_line(child.read_line());
    ASSERT_NE(port, 0);
    HttpClient client(port);
    const auto r = client.post_json("/createStream", {{"StreamName", "cam1"}});
    EXPECT_EQ(
        r.json()["StreamARN"].get<std::string>().rfind("arn:aws:kinesisvideo:eu-central-1:111122223333:", 0),
        0u)
        << r.body;
    child.signal(SIGINT);
    EXPECT_EQ(child.wait(), 0);
    EXPECT_TRUE(std::filesystem::exists(dir / "env-data" / "catalog.db"));
}

TEST(ServerBinary, FailsClearlyWhenThePortIsTaken) {
    TempDir dir;
    Child first({"--listen", "127.0.0.1:0", "--data-dir", (dir / "a").string()});
    const auto port = port_from_listening_line(first.read_line());
    ASSERT_NE(port, 0);
    Child second({"--listen", "127.0.0.1:" + std::to_string(port), "--data-dir", (dir / "b").string()});
    EXPECT_EQ(second.read_all(), "");  // no "listening" line
    EXPECT_EQ(second.wait(), 1);
}

}  // namespace
}  // namespace kinema::test
