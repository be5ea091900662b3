#include "test_server.h"

#include <spdlog/spdlog.h>

#include <cstdlib>

namespace kinema::test {

TestServer::TestServer(std::function<void(server::ServerConfig&)> configure)
    : data_dir_(dir_.path() / "data"), configure_(std::move(configure)) {
    // Per-request logs would drown the test output; KINEMA_TEST_LOG_LEVEL=info brings them back.
    const char* level = std::getenv("KINEMA_TEST_LOG_LEVEL");
    spdlog::set_level(spdlog::level::from_str(level != nullptr ? level : "warn"));
    start();
}

TestServer::~TestServer() {
    if (server_) server_->stop();
}

void TestServer::start() {
    server::ServerConfig config;
    config.listen_host = "127.0.0.1";
    config.listen_port = 0;
    config.data_dir = data_dir_;
    config.network_threads = 2;
    config.blocking_threads = 2;
    if (configure_) configure_(config);
    server_ = std::make_unique<server::Server>(config);
    server_->start();
}

void TestServer::restart() {
    server_->stop();
    server_.reset();
    start();
}

}  // namespace kinema::test
