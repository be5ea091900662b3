// PutMedia acknowledgements exactly as KVS sends them: one JSON object per event,
//   {"EventType":"PERSISTED","FragmentTimecode":1234,"FragmentNumber":"00000001700000000123456"}
// and for errors "ErrorId":4004,"ErrorCode":"FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS" are added.
// Producers (KVS's PIC, kvssink, Kinema's SDK) match ACKs to fragments by FragmentTimecode.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <system_error>

namespace kinema::server {

enum class AckEventType { buffering, received, persisted, error, idle };

// KVS's PutMedia ErrorIds, also usable as std::error_code (category "kinema.put_media").
enum class AckError {
    stream_read_error = 4000,
    max_fragment_size_reached = 4001,
    max_fragment_duration_reached = 4002,
    max_connection_duration_reached = 4003,
    fragment_timecode_lesser_than_previous = 4004,
    more_than_one_track_found = 4005,
    invalid_mkv_data = 4006,
    invalid_producer_timestamp = 4007,
    stream_not_active = 4008,
    fragment_metadata_limit_reached = 4009,
    track_number_mismatch = 4010,
    frames_missing_for_track = 4011,
    more_than_allowed_tracks_found = 4012,
    internal_error = 5000,
    archival_error = 5001,
};

}  // namespace kinema::server

// Before any use of AckError in this header: clang rejects a specialisation after implicit instantiation.
template <>
struct std::is_error_code_enum<kinema::server::AckError> : std::true_type {};

namespace kinema::server {

const std::error_category& put_media_category() noexcept;
inline std::error_code make_error_code(AckError e) noexcept {
    return {static_cast<int>(e), put_media_category()};
}

// "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS" for 4004; nullptr for an id KVS does not define.
const char* ack_error_name(AckError error) noexcept;
std::optional<AckError> ack_error_from_id(int id) noexcept;
// "BUFFERING", "RECEIVED", ...
const char* to_string(AckEventType type) noexcept;
std::optional<AckEventType> ack_event_type_from_string(std::string_view text) noexcept;

struct Ack {
    AckEventType type = AckEventType::buffering;
    std::int64_t fragment_timecode = 0;  // the Cluster Timecode in milliseconds, as the producer sent it
    std::string fragment_number;         // "" when there is none (IDLE, errors before a number)
    std::optional<AckError> error;       // set for EventType ERROR

    bool operator==(const Ack&) const = default;
};

// One ACK as a single line of JSON, without a trailing newline.
std::string to_json(const Ack& ack);
// Parses what to_json writes (and what KVS sends); nullopt for anything else. For clients and tests.
std::optional<Ack> parse_ack(std::string_view json);

}  // namespace kinema::server
