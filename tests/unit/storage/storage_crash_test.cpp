// Crash test: a child process appends to 20 streams and reports each fragment whose commit completed on a
// pipe; the parent kill -9s it at a random moment, reopens the data directory and checks that every
// reported fragment is there, byte-identical, and that nothing corrupt is ever returned. Many rounds on
// the same directory, bounded in total time.
#include <gtest/gtest.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <map>
#include <random>
#include <thread>

#include "kinema/storage/error.h"
#include "kinema/storage/fragment_store.h"
#include "storage_test_util.h"

namespace kinema::storage {
namespace {

using test::fragment_bytes;
using test::metadata_at;
using test::TempDir;

constexpr int kStreams = 20;
constexpr int kThreads = 4;

struct Report {
    std::uint64_t stream;
    std::uint64_t number;
    std::uint64_t seed;
};
static_assert(sizeof(Report) <= PIPE_BUF, "a report must be written atomically");

std::string stream_name(int i) {
    return "cam-" + std::to_string(i);
}
// Each round is a producer session per stream, with its own MKV header (every fragment names it).
std::vector<std::uint8_t> session_header(std::uint64_t round, int stream) {
    const std::string text =
        "EBML+Segment+Info+Tracks of round " + std::to_string(round) + " stream " + std::to_string(stream);
    return {text.begin(), text.end()};
}
std::size_t size_for(std::uint64_t seed) {
    return 100 + seed % 4000;
}

StoreOptions crash_options() {
    StoreOptions options;
    options.segment_max_bytes = 256 * 1024;  // rolls happen during the test, so crashes hit them too
    options.commit_max_wait = std::chrono::microseconds(1000);
    options.retention_sweep_interval = std::chrono::milliseconds(0);
    options.map_index_min_bytes = 0;  // every index file read in place: the mapped path under crashes
    return options;
}

[[noreturn]] void run_child(const std::filesystem::path& dir, int report_fd, std::uint64_t round) {
    auto store = FragmentStore::open(dir, crash_options());
    std::vector<HeaderId> headers(kStreams);
    for (int s = 0; s < kStreams; ++s) {
        if (store->open_stream(stream_name(s), 24)) ::_exit(2);
        if (store->put_header(stream_name(s), session_header(round, s), headers[s])) ::_exit(2);
    }
    std::vector<std::thread> threads;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&, t] {
            for (std::uint64_t i = 0;; ++i) {
                const int s = static_cast<int>((i * kThreads + t) % kStreams);
                const std::uint64_t seed = (round << 40) | (static_cast<std::uint64_t>(t) << 32) | i;
                const auto bytes = fragment_bytes(seed, size_for(seed));
                FragmentNumber n = 0;
                const auto ts = static_cast<std::int64_t>(i);
                store->append(stream_name(s), bytes, metadata_at(ts, ts, headers[s]), n,
                              [report_fd, s, seed](FragmentNumber number, std::error_code ec) {
                                  if (ec) return;
                                  const Report r{static_cast<std::uint64_t>(s), number, seed};
                                  if (::write(report_fd, &r, sizeof r) != sizeof r) ::_exit(3);
                              });
                // Pace the writer so the test does not fill the disk; not for ordering.
                std::this_thread::sleep_for(std::chrono::milliseconds(1));
            }
        });
    }
    for (auto& t : threads)
        t.join();
    ::_exit(0);
}

std::vector<Report> run_round(const std::filesystem::path& dir, std::uint64_t round, std::mt19937& rng) {
    int fds[2];
    if (::pipe(fds) != 0) ADD_FAILURE() << "pipe";
    const pid_t child = ::fork();
    if (child == 0) {
        ::close(fds[0]);
        run_child(dir, fds[1], round);
    }
    ::close(fds[1]);
    // Read reports while the child runs, until a random deadline, then kill it mid-flight.
    const auto deadline = std::chrono::steady_clock::now() +
                          std::chrono::milliseconds(std::uniform_int_distribution<int>(30, 400)(rng));
    std::vector<Report> reports;
    std::vector<std::uint8_t> pending;
    bool killed = false;
    for (;;) {
        if (!killed && std::chrono::steady_clock::now() >= deadline) {
            ::kill(child, SIGKILL);
            killed = true;
        }
        // Poll so the kill happens on time even when the child reports nothing.
        pollfd pfd{fds[0], POLLIN, 0};
        if (::poll(&pfd, 1, 10) == 0) continue;
        std::uint8_t buffer[4096];
        const ssize_t n = ::read(fds[0], buffer, sizeof buffer);
        if (n == 0) break;  // the child is gone and the pipe drained
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        pending.insert(pending.end(), buffer, buffer + n);
        while (pending.size() >= sizeof(Report)) {
            Report r;
            std::memcpy(&r, pending.data(), sizeof r);
            reports.push_back(r);
            pending.erase(pending.begin(), pending.begin() + sizeof r);
        }
    }
    ::close(fds[0]);
    int status = 0;
    ::waitpid(child, &status, 0);
    EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL) << "child exited on its own: " << status;
    return reports;
}

// kill -9 leaves the page cache intact, so a tmpfs sees exactly what a disk would after a process crash,
// without pushing hundreds of MB through the shared disk (power cuts are beyond what a test can do).
// Falls back to the temporary directory's own file system when mounting is not allowed.
struct MaybeTmpfs {
    explicit MaybeTmpfs(const std::filesystem::path& dir) : path(dir) {
        mounted = ::mount("tmpfs", dir.c_str(), "tmpfs", 0, "size=512m") == 0;
    }
    ~MaybeTmpfs() {
        if (mounted) ::umount2(path.c_str(), MNT_DETACH);
    }
    std::filesystem::path path;
    bool mounted = false;
};

TEST(StorageCrash, KillNineAtRandomMomentsLosesNothingCommitted) {
    TempDir dir;
    MaybeTmpfs tmpfs(dir.path());
    std::mt19937 rng(12345);
    std::map<std::pair<std::uint64_t, std::uint64_t>, std::uint64_t> committed;  // (stream, number) -> seed
    const auto started = std::chrono::steady_clock::now();
    int rounds = 0;
    std::size_t fragments_seen = 0;
    while (rounds < 60 && std::chrono::steady_clock::now() - started < std::chrono::seconds(15)) {
        const auto reports = run_round(dir.path(), static_cast<std::uint64_t>(rounds) + 1, rng);
        ++rounds;
        auto store = FragmentStore::open(dir.path(), crash_options());
        for (int s = 0; s < kStreams; ++s)
            ASSERT_FALSE(store->open_stream(stream_name(s), 24));
        // This round's commits: byte-identical.
        for (const auto& r : reports) {
            Fragment f;
            const auto name = stream_name(static_cast<int>(r.stream));
            ASSERT_FALSE(store->read(name, r.number, f))
                << "round " << rounds << " lost " << name << "/" << r.number;
            ASSERT_EQ(*f.bytes, fragment_bytes(r.seed, size_for(r.seed))) << name << "/" << r.number;
            std::shared_ptr<const std::vector<std::uint8_t>> header;
            ASSERT_FALSE(store->get_header(name, f.info.header_id, header)) << name << "/" << r.number;
            ASSERT_EQ(*header, session_header(r.seed >> 40, static_cast<int>(r.stream)));
            committed[{r.stream, r.number}] = r.seed;
        }
        // Earlier rounds' commits: still indexed with the same size and checksum.
        for (const auto& [key, seed] : committed) {
            FragmentInfo info;
            ASSERT_FALSE(store->get_info(stream_name(static_cast<int>(key.first)), key.second, info));
            ASSERT_EQ(info.size, size_for(seed));
        }
        // Whatever the log holds (including fragments appended but not reported) reads back whole.
        const bool last_round = std::chrono::steady_clock::now() - started >= std::chrono::seconds(15);
        for (int s = 0; s < kStreams; ++s) {
            std::string token;
            do {
                FragmentPage page;
                ASSERT_FALSE(store->list(stream_name(s), TimestampKind::server,
                                         media::Timestamp::from_nanoseconds(INT64_MIN),
                                         media::Timestamp::from_nanoseconds(INT64_MAX), 1000, token, page));
                for (const auto& info : page.fragments) {
                    ++fragments_seen;
                    if (!last_round && (info.number % 16) != 0) continue;  // sample, except in the last round
                    Fragment f;
                    ASSERT_FALSE(store->read(stream_name(s), info.number, f)) << "corrupt " << info.number;
                    ASSERT_EQ(f.bytes->size(), info.size);
                }
                token = page.next_token;
            } while (!token.empty());
        }
    }
    EXPECT_GE(rounds, 10);
    EXPECT_GT(committed.size(), 100u);
    std::printf("crash rounds: %d (%s), committed fragments verified: %zu, fragments listed: %zu\n", rounds,
                tmpfs.mounted ? "tmpfs" : "disk", committed.size(), fragments_seen);
}

}  // namespace
}  // namespace kinema::storage
