// Runs kinema-server in-process on 127.0.0.1:0 with a temporary data directory, for integration tests.
#pragma once

#include <functional>
#include <memory>

#include "kinema/server/server.h"
#include "subprocess.h"

namespace kinema::test {

class TestServer {
public:
    // configure may adjust the config (limits, threads) before the server starts.
    explicit TestServer(std::function<void(server::ServerConfig&)> configure = {});
    ~TestServer();

    std::uint16_t port() const { return server_->port(); }
    std::string url() const { return server_->url(); }
    const std::filesystem::path& data_dir() const { return data_dir_; }
    server::Server& server() { return *server_; }

    // Stops the server and starts a new one on the same data directory (a fresh ephemeral port).
    void restart();
    void stop() { server_->stop(); }

private:
    void start();

    TempDir dir_;
    std::filesystem::path data_dir_;
    std::function<void(server::ServerConfig&)> configure_;
    std::unique_ptr<server::Server> server_;
};

}  // namespace kinema::test
