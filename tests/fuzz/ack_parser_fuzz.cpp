// libFuzzer target for the PutMedia ACK parser (producer-sdk/src/ack_parser.cpp): any bytes a server sends
// must parse or fail cleanly, and whatever parses must print back to a message that parses the same way.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "ack_parser.h"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace kinema::producer;
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    FragmentAck ack;
    if (parse_ack(text, ack)) return 0;
    // Round trip through the fields the producer uses.
    std::string again = std::string(R"({"EventType":")") + to_string(ack.type) + "\"";
    if (ack.has_timecode) again += ",\"FragmentTimecode\":" + std::to_string(ack.fragment_timecode);
    if (ack.error_id != 0) again += ",\"ErrorId\":" + std::to_string(ack.error_id);
    again += "}";
    FragmentAck reparsed;
    if (parse_ack(again, reparsed) || reparsed.type != ack.type ||
        reparsed.fragment_timecode != ack.fragment_timecode || reparsed.error_id != ack.error_id)
        __builtin_trap();
    return 0;
}
