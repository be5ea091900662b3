#include "fault_proxy.h"

#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <limits>
#include <stdexcept>

namespace kinema::producer::testing {
namespace {

bool write_all(int fd, const char* data, std::size_t size) {
    while (size > 0) {
        const ssize_t n = ::send(fd, data, size, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        data += n;
        size -= static_cast<std::size_t>(n);
    }
    return true;
}

// Closes with a reset rather than a FIN: what the peer sees when a network path dies.
void reset(int fd) {
    linger l{1, 0};
    ::setsockopt(fd, SOL_SOCKET, SO_LINGER, &l, sizeof l);
    ::close(fd);
}

struct Pair {
    int client = -1;
    int upstream = -1;
    std::size_t sent = 0;  // client -> upstream bytes
    std::size_t cut = std::numeric_limits<std::size_t>::max();
};

}  // namespace

FaultProxy::FaultProxy(int upstream_port, std::vector<std::size_t> cut_after)
    : upstream_port_(upstream_port), cut_after_(std::move(cut_after)) {
    listen_fd_ = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t length = sizeof addr;
    if (listen_fd_ < 0 || ::bind(listen_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(listen_fd_, 8) != 0 ||
        ::getsockname(listen_fd_, reinterpret_cast<sockaddr*>(&addr), &length) != 0 || ::pipe(wake_fds_) != 0)
        throw std::runtime_error("fault proxy: cannot listen");
    port_ = ntohs(addr.sin_port);
    thread_ = std::thread([this] { run(); });
}

FaultProxy::~FaultProxy() {
    const char stop = 1;
    (void)!::write(wake_fds_[1], &stop, 1);
    thread_.join();
    ::close(listen_fd_);
    ::close(wake_fds_[0]);
    ::close(wake_fds_[1]);
}

void FaultProxy::run() {
    std::vector<Pair> pairs;
    std::vector<char> buffer(64 * 1024);
    for (;;) {
        std::vector<pollfd> fds{{wake_fds_[0], POLLIN, 0}, {listen_fd_, POLLIN, 0}};
        for (const auto& p : pairs) {
            fds.push_back({p.client, POLLIN, 0});
            fds.push_back({p.upstream, POLLIN, 0});
        }
        if (::poll(fds.data(), fds.size(), -1) < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (fds[0].revents != 0) break;
        const std::size_t polled = pairs.size();  // a pair accepted below has no pollfd yet
        if (fds[1].revents & POLLIN) {
            Pair p;
            p.client = ::accept4(listen_fd_, nullptr, nullptr, SOCK_CLOEXEC);
            p.upstream = ::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
            sockaddr_in addr{};
            addr.sin_family = AF_INET;
            addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
            addr.sin_port = htons(static_cast<std::uint16_t>(upstream_port_));
            if (p.client >= 0 &&
                ::connect(p.upstream, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
                const int index = connections_++;
                if (static_cast<std::size_t>(index) < cut_after_.size()) p.cut = cut_after_[index];
                pairs.push_back(p);
            } else {
                if (p.client >= 0) reset(p.client);
                ::close(p.upstream);
            }
        }
        std::vector<bool> closed(pairs.size(), false);
        for (std::size_t i = 0; i < polled; ++i) {
            Pair& p = pairs[i];
            const pollfd& from_client = fds[2 + 2 * i];
            const pollfd& from_upstream = fds[3 + 2 * i];
            if (from_client.revents != 0) {
                const ssize_t n = ::recv(p.client, buffer.data(), buffer.size(), 0);
                if (n <= 0) {
                    closed[i] = true;
                } else {
                    std::size_t pass = static_cast<std::size_t>(n);
                    const bool cut = p.sent + pass >= p.cut;
                    if (cut) pass = p.cut - p.sent;
                    if (!write_all(p.upstream, buffer.data(), pass)) closed[i] = true;
                    p.sent += pass;
                    if (cut) {
                        ++cuts_;
                        closed[i] = true;
                    }
                }
            }
            if (!closed[i] && from_upstream.revents != 0) {
                const ssize_t n = ::recv(p.upstream, buffer.data(), buffer.size(), 0);
                if (n <= 0 || !write_all(p.client, buffer.data(), static_cast<std::size_t>(n)))
                    closed[i] = true;
            }
        }
        for (std::size_t i = pairs.size(); i-- > 0;) {
            if (!closed[i]) continue;
            reset(pairs[i].client);
            reset(pairs[i].upstream);
            pairs.erase(pairs.begin() + static_cast<std::ptrdiff_t>(i));
        }
    }
    for (auto& p : pairs) {
        reset(p.client);
        reset(p.upstream);
    }
}

}  // namespace kinema::producer::testing
