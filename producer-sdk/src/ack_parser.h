// Parses one PutMedia ACK: a flat JSON object such as
//   {"EventType":"PERSISTED","FragmentTimecode":1700000000123,"FragmentNumber":"91343852333181432392682062"}
// with "ErrorId" and "ErrorCode" added to ERROR events.
#pragma once

#include <cstddef>
#include <string_view>
#include <system_error>

#include "kinema/producer/stream_events.h"

namespace kinema::producer {

// Longer messages are rejected without being parsed: a real ACK is under 300 bytes.
inline constexpr std::size_t kMaxAckSize = 4096;

// Errc::invalid_ack for anything that is not one flat JSON object with a known EventType, or whose known
// fields have the wrong type; unknown fields are skipped when their values are scalars.
std::error_code parse_ack(std::string_view text, FragmentAck& ack);

}  // namespace kinema::producer
