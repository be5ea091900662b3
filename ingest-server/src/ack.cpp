#include "ack.h"

#include <algorithm>
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
    // Written out here rather than built as an nlohmann::ordered_json: a fast stream gets three ACKs a
    // fragment, and building an object for each was 3% of the network thread's time. The field order is
    // KVS's, which some hand-written producer parsers rely on; the event type and error names need no
    // escaping, and a fragment number (digits) goes through nlohmann's escaping only if it would need it.
    const std::string& number = ack.fragment_number;
    const bool plain = std::all_of(number.begin(), number.end(), [](char c) {
        const auto u = static_cast<unsigned char>(c);
        return u >= 0x20 && u < 0x7f && c != '"' && c != '\\';
    });
    std::string out;
    out.reserve(96 + number.size());
    out += R"({"EventType":")";
    out += to_string(ack.type);
    out += R"(","FragmentTimecode":)";
    out += std::to_string(ack.fragment_timecode);
    out += R"(,"FragmentNumber":)";
    if (plain) {
        out += '"';
        out += number;
        out += '"';
    } else {
        out += nlohmann::json(number).dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
    }
    if (ack.type == AckEventType::error) {
        const AckError error = ack.error.value_or(AckError::internal_error);
        const char* name = ack_error_name(error);
        out += R"(,"ErrorId":)";
        out += std::to_string(static_cast<int>(error));
        out += R"(,"ErrorCode":")";
        out += name != nullptr ? name : "INTERNAL_ERROR";
        out += '"';
    }
    out += '}';
    return out;
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
