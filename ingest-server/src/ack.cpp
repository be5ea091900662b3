#include "ack.h"

#include <array>
#include <nlohmann/json.hpp>

namespace kinema::server {
namespace {

struct ErrorName {
    AckError error;
    const char* name;
};

// KVS PutMedia API reference, "ErrorId" table.
constexpr std::array kErrorNames{
    ErrorName{AckError::stream_read_error, "STREAM_READ_ERROR"},
    ErrorName{AckError::max_fragment_size_reached, "MAX_FRAGMENT_SIZE_REACHED"},
    ErrorName{AckError::max_fragment_duration_reached, "MAX_FRAGMENT_DURATION_REACHED"},
    ErrorName{AckError::max_connection_duration_reached, "MAX_CONNECTION_DURATION_REACHED"},
    ErrorName{AckError::fragment_timecode_lesser_than_previous, "FRAGMENT_TIMECODE_LESSER_THAN_PREVIOUS"},
    ErrorName{AckError::more_than_one_track_found, "MORE_THAN_ONE_TRACK_FOUND"},
    ErrorName{AckError::invalid_mkv_data, "INVALID_MKV_DATA"},
    ErrorName{AckError::invalid_producer_timestamp, "INVALID_PRODUCER_TIMESTAMP"},
    ErrorName{AckError::stream_not_active, "STREAM_NOT_ACTIVE"},
    ErrorName{AckError::fragment_metadata_limit_reached, "FRAGMENT_METADATA_LIMIT_REACHED"},
    ErrorName{AckError::track_number_mismatch, "TRACK_NUMBER_MISMATCH"},
    ErrorName{AckError::frames_missing_for_track, "FRAMES_MISSING_FOR_TRACK"},
    ErrorName{AckError::more_than_allowed_tracks_found, "MORE_THAN_ALLOWED_TRACKS_FOUND"},
    ErrorName{AckError::internal_error, "INTERNAL_ERROR"},
    ErrorName{AckError::archival_error, "ARCHIVAL_ERROR"},
};

constexpr std::array<const char*, 5> kEventNames{"BUFFERING", "RECEIVED", "PERSISTED", "ERROR", "IDLE"};

class PutMediaCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "kinema.put_media"; }
    std::string message(int value) const override {
        const char* text = ack_error_name(static_cast<AckError>(value));
        return text != nullptr ? text : "unknown PutMedia error " + std::to_string(value);
    }
};

}  // namespace

const std::error_category& put_media_category() noexcept {
    static const PutMediaCategory category;
    return category;
}

const char* ack_error_name(AckError error) noexcept {
    for (const auto& entry : kErrorNames)
        if (entry.error == error) return entry.name;
    return nullptr;
}

std::optional<AckError> ack_error_from_id(int id) noexcept {
    for (const auto& entry : kErrorNames)
        if (static_cast<int>(entry.error) == id) return entry.error;
    return std::nullopt;
}

const char* to_string(AckEventType type) noexcept {
    return kEventNames.at(static_cast<std::size_t>(type));
}

std::optional<AckEventType> ack_event_type_from_string(std::string_view text) noexcept {
    for (std::size_t i = 0; i < kEventNames.size(); ++i)
        if (text == kEventNames[i]) return static_cast<AckEventType>(i);
    return std::nullopt;
}

std::string to_json(const Ack& ack) {
    // nlohmann::ordered_json keeps KVS's field order, which some hand-written producer parsers rely on.
    nlohmann::ordered_json json;
    json["EventType"] = to_string(ack.type);
    json["FragmentTimecode"] = ack.fragment_timecode;
    json["FragmentNumber"] = ack.fragment_number;
    if (ack.type == AckEventType::error) {
        AckError error = ack.error.value_or(AckError::internal_error);
        json["ErrorId"] = static_cast<int>(error);
        const char* name = ack_error_name(error);
        json["ErrorCode"] = name != nullptr ? name : "INTERNAL_ERROR";
    }
    return json.dump();
}

std::optional<Ack> parse_ack(std::string_view text) {
    auto json = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (!json.is_object()) return std::nullopt;
    auto event = json.find("EventType");
    if (event == json.end() || !event->is_string()) return std::nullopt;
    auto type = ack_event_type_from_string(event->get<std::string>());
    if (!type) return std::nullopt;
    Ack ack;
    ack.type = *type;
    if (auto tc = json.find("FragmentTimecode"); tc != json.end()) {
        if (!tc->is_number_integer()) return std::nullopt;
        ack.fragment_timecode = tc->get<std::int64_t>();
    }
    if (auto number = json.find("FragmentNumber"); number != json.end()) {
        if (!number->is_string()) return std::nullopt;
        ack.fragment_number = number->get<std::string>();
    }
    if (ack.type == AckEventType::error) {
        auto id = json.find("ErrorId");
        if (id == json.end() || !id->is_number_integer()) return std::nullopt;
        ack.error = ack_error_from_id(id->get<int>());
        if (!ack.error) return std::nullopt;
    }
    return ack;
}

}  // namespace kinema::server
