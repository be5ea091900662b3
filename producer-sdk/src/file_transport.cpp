#include "file_transport.h"

#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>
#include <vector>

#include "kinema/producer/error.h"

namespace kinema::producer {
namespace {

// The same chunk size as the WebSocket transport: what one fill() takes from the content buffer.
constexpr std::size_t kChunkSize = 64 * 1024;

bool write_all(int fd, const std::uint8_t* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::write(fd, data, size);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

}  // namespace

struct FileTransport::Core {
    std::string path;
    int fd = -1;

    std::mutex sink_mutex;  // held while the sink is called; shutdown() clears `sink` under it
    TransportSink* sink = nullptr;

    std::mutex mutex;
    std::condition_variable changed;
    bool want_write = false;
    bool exit = false;
    bool done = false;
    bool started = false;  // the writer thread was started (so `done` will be set)
    std::thread thread;

    template <typename F>
    void with_sink(F&& f) {
        std::lock_guard lock(sink_mutex);
        if (sink != nullptr) f(*sink);
    }

    void fail(const char* what) {
        const std::string detail = std::string(what) + " " + path + ": " + std::strerror(errno);
        with_sink(
            [&](TransportSink& s) { s.on_transport_error(make_error_code(Errc::write_failed), detail); });
    }

    void run() {
        with_sink([](TransportSink& s) { s.on_session_open(); });
        std::vector<std::uint8_t> chunk(kChunkSize);
        for (;;) {
            {
                std::unique_lock lock(mutex);
                changed.wait(lock, [&] { return exit || want_write; });
                if (exit) break;
                want_write = false;
            }
            bool wrote = false;
            for (;;) {
                std::size_t n = 0;
                with_sink([&](TransportSink& s) { n = s.fill(chunk.data(), chunk.size()); });
                if (n == 0) break;
                if (!write_all(fd, chunk.data(), n)) {
                    fail("write");
                    return finish();
                }
                wrote = true;
            }
            if (!wrote) continue;
            // PERSISTED means durable: the fragments just written survive a power cut once this returns.
            if (::fdatasync(fd) != 0) {
                fail("fdatasync");
                return finish();
            }
            with_sink([](TransportSink& s) { s.on_durable(); });
        }
        finish();
    }

    void finish() {
        ::close(fd);
        fd = -1;
        std::lock_guard lock(mutex);
        done = true;
        changed.notify_all();
    }
};

FileTransport::FileTransport(std::string path, TransportSink& sink) : core_(std::make_shared<Core>()) {
    core_->path = std::move(path);
    core_->sink = &sink;
}

FileTransport::~FileTransport() {
    shutdown(SteadyTime{});
    // As for the network thread: a writer stop() did not wait for is given a little longer to finish here.
    std::unique_lock lock(core_->mutex);
    if (core_->started)
        core_->changed.wait_for(lock, std::chrono::seconds(2), [this] { return core_->done; });
}

std::error_code FileTransport::start() {
    core_->fd = ::open(core_->path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (core_->fd < 0) return Errc::write_failed;
    // The thread keeps the core alive, so a thread left behind by shutdown() cleans up after itself.
    core_->thread = std::thread([core = core_] { core->run(); });
    {
        std::lock_guard lock(core_->mutex);
        core_->started = true;
    }
    return {};
}

void FileTransport::wake() {
    std::lock_guard lock(core_->mutex);
    core_->want_write = true;
    core_->changed.notify_all();
}

bool FileTransport::shutdown(SteadyTime deadline) {
    {
        std::lock_guard lock(core_->sink_mutex);
        core_->sink = nullptr;
    }
    std::unique_lock lock(core_->mutex);
    core_->exit = true;
    core_->changed.notify_all();
    if (!core_->thread.joinable()) return true;
    if (core_->changed.wait_until(lock, deadline, [&] { return core_->done; })) {
        lock.unlock();
        core_->thread.join();
        return true;
    }
    core_->thread.detach();  // a write stuck in the kernel (a dead NFS server): it finishes on its own
    return false;
}

}  // namespace kinema::producer
