// GetMedia's StartSelector: parsing (JSON body or WebSocket query parameters), resolving it to a position
// in the stream's fragment log, and a cursor that walks archived fragments from there and then follows the
// live tail without a gap.
//
// Resolution (KVS semantics):
//   NOW                 after the newest committed fragment, and live: join the hub's current fragment
//   EARLIEST            the oldest fragment
//   FRAGMENT_NUMBER     the fragment after AfterFragmentNumber
//   SERVER_TIMESTAMP,   the fragment containing StartTimestamp (start <= t < start + duration), else the
//   PRODUCER_TIMESTAMP  first one starting at or after it, else whatever arrives next
//   CONTINUATION_TOKEN  the fragment after the one whose tag carried the token (tokens are fragment numbers)
//
// Going live: a GetMedia session sends archived fragments from the cursor until next() reports
// fragment_not_found, then asks the stream's LiveHub to join after the last fragment it sent
// (LiveHub::join_after). The hub refuses while fragments after that one are still being committed, and the
// cursor's follow() wakes the session when they are readable; so every fragment is sent once, in order.
#pragma once

#include <functional>
#include <map>
#include <optional>
#include <string>
#include <system_error>

#include <nlohmann/json_fwd.hpp>

#include <kinema/media/timestamp.h>
#include <kinema/storage/fragment_store.h>

namespace kinema::server {

enum class StartSelectorType {
    now,
    earliest,
    fragment_number,
    server_timestamp,
    producer_timestamp,
    continuation_token
};

struct StartSelector {
    StartSelectorType type = StartSelectorType::now;
    storage::FragmentNumber fragment_number = 0;  // AfterFragmentNumber or ContinuationToken
    media::Timestamp start_timestamp;             // StartTimestamp
};

// From GetMedia's "StartSelector" object. On failure returns false and sets `error` to an
// InvalidArgumentException message.
bool parse_start_selector(const nlohmann::json& selector, StartSelector& out, std::string& error);
// From WebSocket query parameters: StartSelectorType (default NOW), AfterFragmentNumber,
// StartTimestamp (epoch seconds, "1700000000.123"), ContinuationToken.
bool parse_start_selector(const std::map<std::string, std::string>& parameters, StartSelector& out,
                          std::string& error);

struct StartPosition {
    storage::FragmentNumber after = 0;  // send fragments with numbers > after
    bool live_now = false;              // NOW: no archive, join the live hub's current fragment
};

// Errors are the store's (an unknown stream is resource_not_found / invalid_argument).
std::error_code resolve_start(const storage::FragmentStore& store, const std::string& stream,
                              const StartSelector& selector, StartPosition& position);

class FragmentCursor {
public:
    FragmentCursor(storage::FragmentStore& store, std::string stream, storage::FragmentNumber after)
        : store_(store), stream_(std::move(stream)), position_(after) {}

    // The next committed fragment after the last one returned; fragment_not_found when caught up.
    std::error_code next(storage::FragmentInfo& info);
    // Skips ahead (after the live hub delivered fragments up to `number`).
    void advance_to(storage::FragmentNumber number) {
        if (number > position_) position_ = number;
    }
    storage::FragmentNumber position() const noexcept { return position_; }

    // Calls `wake` (on the store's commit thread: post it to your executor) whenever a fragment commits,
    // until stop_following() or destruction. Subscribe before the first next() that may report caught-up, so
    // no commit falls between the two.
    std::error_code follow(std::function<void()> wake);
    void stop_following() { subscription_.cancel(); }

private:
    storage::FragmentStore& store_;
    std::string stream_;
    storage::FragmentNumber position_;
    storage::TailSubscription subscription_;
};

}  // namespace kinema::server
