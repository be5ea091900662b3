#include "start_selector.h"

#include <array>
#include <nlohmann/json.hpp>
#include <utility>

#include <kinema/storage/error.h>

namespace kinema::server {
namespace {

using media::Timestamp;

constexpr std::array<std::pair<const char*, StartSelectorType>, 6> kTypes{{
    {"NOW", StartSelectorType::now},
    {"EARLIEST", StartSelectorType::earliest},
    {"FRAGMENT_NUMBER", StartSelectorType::fragment_number},
    {"SERVER_TIMESTAMP", StartSelectorType::server_timestamp},
    {"PRODUCER_TIMESTAMP", StartSelectorType::producer_timestamp},
    {"CONTINUATION_TOKEN", StartSelectorType::continuation_token},
}};

// KVS caps a fragment at 20 s, so a fragment containing t started at most this long before t.
constexpr auto kMaxFragmentDuration = std::chrono::seconds(20);

struct RawSelector {
    std::optional<std::string> type;
    std::optional<std::string> after_fragment_number;
    std::optional<std::string> continuation_token;
    std::optional<Timestamp> start_timestamp;
    bool bad_timestamp = false;
};

bool finish_parse(const RawSelector& raw, StartSelector& out, std::string& error) {
    if (!raw.type) {
        error = "StartSelector.StartSelectorType is required";
        return false;
    }
    bool known = false;
    for (const auto& [name, type] : kTypes) {
        if (*raw.type == name) {
            out.type = type;
            known = true;
        }
    }
    if (!known) {
        error =
            "StartSelector.StartSelectorType must be one of NOW, EARLIEST, FRAGMENT_NUMBER, "
            "SERVER_TIMESTAMP, "
            "PRODUCER_TIMESTAMP, CONTINUATION_TOKEN";
        return false;
    }
    if (raw.bad_timestamp) {
        error = "StartSelector.StartTimestamp must be epoch seconds";
        return false;
    }
    switch (out.type) {
        case StartSelectorType::fragment_number:
        case StartSelectorType::continuation_token: {
            const bool is_number = out.type == StartSelectorType::fragment_number;
            const auto& text = is_number ? raw.after_fragment_number : raw.continuation_token;
            const char* field = is_number ? "AfterFragmentNumber" : "ContinuationToken";
            if (!text) {
                error = std::string("StartSelector.") + field + " is required for this StartSelectorType";
                return false;
            }
            auto number = storage::parse_fragment_number(*text);
            if (!number) {
                error = std::string("StartSelector.") + field + " is not a fragment number: " + *text;
                return false;
            }
            out.fragment_number = *number;
            return true;
        }
        case StartSelectorType::server_timestamp:
        case StartSelectorType::producer_timestamp:
            if (!raw.start_timestamp) {
                error = "StartSelector.StartTimestamp is required for this StartSelectorType";
                return false;
            }
            out.start_timestamp = *raw.start_timestamp;
            return true;
        default:
            return true;
    }
}

std::optional<Timestamp> timestamp_from_json(const nlohmann::json& value) {
    if (value.is_number()) return Timestamp::from_epoch_seconds(value.get<double>());
    if (value.is_string()) return Timestamp::parse_kvs_seconds(value.get<std::string>());
    return std::nullopt;
}

}  // namespace

bool parse_start_selector(const nlohmann::json& selector, StartSelector& out, std::string& error) {
    if (!selector.is_object()) {
        error = "StartSelector must be an object";
        return false;
    }
    RawSelector raw;
    auto string_field = [&](const char* name, std::optional<std::string>& into) {
        auto it = selector.find(name);
        if (it == selector.end() || it->is_null()) return true;
        if (!it->is_string()) {
            error = std::string("StartSelector.") + name + " must be a string";
            return false;
        }
        into = it->get<std::string>();
        return true;
    };
    if (!string_field("StartSelectorType", raw.type) ||
        !string_field("AfterFragmentNumber", raw.after_fragment_number) ||
        !string_field("ContinuationToken", raw.continuation_token)) {
        return false;
    }
    if (auto it = selector.find("StartTimestamp"); it != selector.end() && !it->is_null()) {
        raw.start_timestamp = timestamp_from_json(*it);
        raw.bad_timestamp = !raw.start_timestamp;
    }
    return finish_parse(raw, out, error);
}

bool parse_start_selector(const std::map<std::string, std::string>& parameters, StartSelector& out,
                          std::string& error) {
    RawSelector raw;
    auto get = [&](const char* name) -> std::optional<std::string> {
        auto it = parameters.find(name);
        if (it == parameters.end()) return std::nullopt;
        return it->second;
    };
    raw.type = get("StartSelectorType").value_or("NOW");
    raw.after_fragment_number = get("AfterFragmentNumber");
    raw.continuation_token = get("ContinuationToken");
    if (auto text = get("StartTimestamp")) {
        raw.start_timestamp = Timestamp::parse_kvs_seconds(*text);
        raw.bad_timestamp = !raw.start_timestamp;
    }
    return finish_parse(raw, out, error);
}

std::error_code resolve_start(const storage::FragmentStore& store, const std::string& stream,
                              const StartSelector& selector, StartPosition& position) {
    using storage::Errc;
    position = {};
    storage::FragmentInfo info;
    auto after_newest = [&]() -> std::error_code {
        auto ec = store.newest(stream, info);
        if (ec == Errc::fragment_not_found) return {};
        if (ec) return ec;
        position.after = info.number;
        return {};
    };
    switch (selector.type) {
        case StartSelectorType::now:
            position.live_now = true;
            return after_newest();
        case StartSelectorType::earliest: {
            auto ec = store.oldest(stream, info);
            if (ec == Errc::fragment_not_found) return {};
            if (ec) return ec;
            position.after = info.number - 1;
            return {};
        }
        case StartSelectorType::fragment_number:
        case StartSelectorType::continuation_token:
            position.after = selector.fragment_number;
            return {};
        case StartSelectorType::server_timestamp:
        case StartSelectorType::producer_timestamp: {
            const auto kind = selector.type == StartSelectorType::server_timestamp
                                  ? storage::TimestampKind::server
                                  : storage::TimestampKind::producer;
            const Timestamp at = selector.start_timestamp;
            const Timestamp timestamp_floor = Timestamp::from_nanoseconds(0);
            const Timestamp from =
                at - kMaxFragmentDuration < timestamp_floor ? timestamp_floor : at - kMaxFragmentDuration;
            // The fragment containing `at` started at most 20 s before it.
            storage::FragmentPage page;
            if (auto ec = store.list(stream, kind, from, at, 1000, "", page);
                ec && ec != Errc::fragment_not_found) {
                return ec;
            }
            for (auto it = page.fragments.rbegin(); it != page.fragments.rend(); ++it) {
                const Timestamp start =
                    kind == storage::TimestampKind::server ? it->server_timestamp : it->producer_timestamp;
                if (start <= at && at < start + it->duration) {
                    position.after = it->number - 1;
                    return {};
                }
            }
            auto ec = store.find_at_or_after(stream, kind, at, info);
            if (ec == Errc::fragment_not_found) return after_newest();
            if (ec) return ec;
            position.after = info.number - 1;
            return {};
        }
    }
    return {};
}

std::error_code FragmentCursor::next(storage::FragmentInfo& info) {
    auto ec = store_.next_after(stream_, position_, info);
    if (ec) return ec;
    position_ = info.number;
    return {};
}

std::error_code FragmentCursor::follow(std::function<void()> wake) {
    return store_.follow(
        stream_, [wake = std::move(wake)](const storage::FragmentInfo&) { wake(); }, subscription_);
}

}  // namespace kinema::server
