// A TCP proxy on an ephemeral 127.0.0.1 port that cuts connections at chosen byte offsets, for testing
// reconnect and replay: connection i (in accept order) is reset once `cut_after[i]` bytes have gone from
// the client to the upstream server; connections beyond the list pass everything. Both sides see a
// reset (SO_LINGER 0), as after a network failure. Plain sockets and poll() on one thread; it can move to
// tests/support when the integration tests against kinema-server need it.
#pragma once

#include <atomic>
#include <cstddef>
#include <thread>
#include <vector>

namespace kinema::producer::testing {

class FaultProxy {
public:
    FaultProxy(int upstream_port, std::vector<std::size_t> cut_after);
    ~FaultProxy();
    FaultProxy(const FaultProxy&) = delete;
    FaultProxy& operator=(const FaultProxy&) = delete;

    int port() const { return port_; }
    int connections() const { return connections_; }
    int cuts() const { return cuts_; }

private:
    void run();

    int upstream_port_;
    std::vector<std::size_t> cut_after_;
    int listen_fd_ = -1;
    int wake_fds_[2] = {-1, -1};  // a pipe: the destructor writes to stop the thread
    int port_ = 0;
    std::atomic<int> connections_{0};
    std::atomic<int> cuts_{0};
    std::thread thread_;
};

}  // namespace kinema::producer::testing
