// The producer error category and the names of event enums.
#include "kinema/producer/error.h"

#include <string>

#include "kinema/producer/stream_events.h"

namespace kinema::producer {
namespace {

class ProducerCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "kinema.producer"; }
    std::string message(int value) const override {
        switch (static_cast<Errc>(value)) {
            case Errc::ok:
                return "ok";
            case Errc::invalid_argument:
                return "invalid argument";
            case Errc::stopped:
                return "stream stopped";
            case Errc::buffer_full:
                return "content buffer full";
            case Errc::waiting_for_key_frame:
                return "waiting for a key frame";
            case Errc::missing_codec_private:
                return "no SPS/PPS yet (codec private data unknown)";
            case Errc::timed_out:
                return "timed out waiting for acknowledgements";
            case Errc::connection_failed:
                return "connection failed";
            case Errc::connection_stale:
                return "connection stale: no ACK within the staleness timeout";
            case Errc::server_error:
                return "server reported an error";
            case Errc::invalid_ack:
                return "invalid ACK message";
            case Errc::create_stream_failed:
                return "CreateStream failed";
            case Errc::write_failed:
                return "cannot write the output file";
        }
        return "unknown producer error";
    }
};

}  // namespace

const std::error_category& producer_category() noexcept {
    static const ProducerCategory category;
    return category;
}

const char* to_string(AckType type) noexcept {
    switch (type) {
        case AckType::buffering:
            return "BUFFERING";
        case AckType::received:
            return "RECEIVED";
        case AckType::persisted:
            return "PERSISTED";
        case AckType::error:
            return "ERROR";
        case AckType::idle:
            return "IDLE";
    }
    return "UNKNOWN";
}

const char* to_string(DropReason reason) noexcept {
    switch (reason) {
        case DropReason::buffer_full:
            return "buffer_full";
        case DropReason::replay_window:
            return "replay_window";
        case DropReason::rejected_by_server:
            return "rejected_by_server";
    }
    return "unknown";
}

}  // namespace kinema::producer
