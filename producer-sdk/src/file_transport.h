// A transport that writes the stream's MKV byte stream to a local file instead of a server: the same
// fragmenter, content buffer and session bytes as PutMedia (one session: the header once, then every
// fragment), so the file is exactly what the network would have carried. Each fragment written whole and
// synced (fdatasync) counts as PERSISTED. Used by `kinema-put --output` and by devices that record locally.
#pragma once

#include <memory>
#include <string>

#include "transport.h"

namespace kinema::producer {

class FileTransport final : public Transport {
public:
    FileTransport(std::string path, TransportSink& sink);
    // shutdown() with no wait if still running; then up to 2 s for a thread a timed-out shutdown() left.
    ~FileTransport() override;
    FileTransport(const FileTransport&) = delete;
    FileTransport& operator=(const FileTransport&) = delete;

    // Creates (or truncates) the file and starts the writer thread. Errc::write_failed when the file
    // cannot be opened.
    std::error_code start() override;
    void wake() override;
    void restart_session() override {}  // a file is one session; nothing to restart
    bool shutdown(SteadyTime deadline) override;

    struct Core;

private:
    std::shared_ptr<Core> core_;
};

}  // namespace kinema::producer
