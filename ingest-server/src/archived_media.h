// KVS archived media, independent of HTTP: ListFragments (JSON in, JSON out) and GetMediaForFragmentList
// (JSON in, MKV out, one fragment at a time so a 1000-fragment answer is streamed, never held whole: the
// GetMedia transport sends it as a chunked body, reading a bounded batch per trip to the blocking pool).
// Both read the store: run them on the blocking-work pool, never on a network thread.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include <kinema/storage/catalog.h>
#include <kinema/storage/fragment_store.h>

#include "get_media_output.h"

namespace kinema::server {

// A KVS error response: HTTP status, exception name and message.
struct MediaApiError {
    unsigned status = 400;
    std::string type;  // "InvalidArgumentException", "ResourceNotFoundException", ...
    std::string message;
    explicit operator bool() const noexcept { return !type.empty(); }
};
MediaApiError invalid_argument_error(std::string message);
MediaApiError not_found_error(std::string message);
// Storage faults become a 500 "InternalFailure"; resource_not_found a ResourceNotFoundException.
MediaApiError storage_error(std::error_code ec, std::string context);

// What the request named (StreamName or StreamARN) turned into: the FragmentStore key of an existing stream.
struct ResolvedStream {
    std::string name;
    std::string key;
};
// Looks a stream up (by name and/or ARN, as KVS: when both are given they must agree).
using StreamResolver =
    std::function<MediaApiError(const std::string& name, const std::string& arn, ResolvedStream& stream)>;

// Looks streams up in the catalog and opens them in the store (keyed by stream name, with the stream's
// retention) on first use. Blocking. Catalog errors keep their KVS names.
StreamResolver catalog_stream_resolver(storage::Catalog& catalog, storage::FragmentStore& store);

// Parses a request body (bounded nesting). Returns InvalidArgumentException for what is not a JSON object.
MediaApiError parse_request_body(std::string_view body, nlohmann::json& json);

inline constexpr std::size_t kMaxListFragmentsResults = 1000;
inline constexpr std::size_t kMaxFragmentListLength = 1000;

// ListFragments{StreamName|StreamARN, MaxResults 1..1000 (default 1000), NextToken,
// FragmentSelector{FragmentSelectorType PRODUCER_TIMESTAMP|SERVER_TIMESTAMP, TimestampRange{StartTimestamp,
// EndTimestamp}}} -> {"Fragments":[{FragmentNumber, FragmentSizeInBytes, ProducerTimestamp, ServerTimestamp,
// FragmentLengthInMilliseconds}], "NextToken"}. Timestamps are epoch seconds (JSON numbers, ms precision).
// Without a selector every fragment is listed (by server timestamp). NextToken carries the selector, so a
// request with only NextToken continues the listing.
MediaApiError list_fragments(const storage::FragmentStore& store, const StreamResolver& resolve,
                             const nlohmann::json& request, nlohmann::json& response);

// GetMediaForFragmentList{StreamName|StreamARN, Fragments: [1..1000 fragment numbers]} -> MKV: each fragment
// a complete MKV with tags AWS_KINESISVIDEO_FRAGMENT_NUMBER, _SERVER_SIDE_TIMESTAMP,
// _PRODUCER_SIDE_TIMESTAMP, in the order requested. Numbers that are not fragment numbers are
// InvalidArgument; numbers of fragments that do not exist are ResourceNotFound (checked before any byte is
// sent).
class FragmentListReader {
public:
    static MediaApiError open(const storage::FragmentStore& store, const StreamResolver& resolve,
                              const nlohmann::json& request, std::unique_ptr<FragmentListReader>& reader);

    // Appends the next fragment's MKV to `out`; false when every fragment has been written. A fragment that
    // disappeared since open() (retention) ends the output with error tags.
    bool next(Bytes& out);
    // True once next() has nothing more to write.
    bool done() const noexcept { return failed_ || next_ >= numbers_.size(); }
    std::size_t size() const noexcept { return numbers_.size(); }
    const std::string& stream() const noexcept { return stream_; }

private:
    FragmentListReader(const storage::FragmentStore& store, std::string stream,
                       std::vector<storage::FragmentNumber> numbers)
        : store_(store), stream_(std::move(stream)), numbers_(std::move(numbers)) {}

    const storage::FragmentStore& store_;
    std::string stream_;
    std::vector<storage::FragmentNumber> numbers_;
    std::size_t next_ = 0;
    bool failed_ = false;
    GetMediaWriter writer_{OutputMode::kvs, TagStyle::fragment_list};
    StreamHeaderCache headers_;
};

}  // namespace kinema::server
