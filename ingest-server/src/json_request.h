// Reading a KVS JSON request body: bounded parse, then typed field access that records the first problem as
// an InvalidArgumentException message. Unknown fields are ignored, as KVS does.
#pragma once

#include <cstdint>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace kinema::server {

enum class Field { optional, required };

class JsonRequest {
public:
    // Parses body as a JSON object (an empty body is {}). On failure returns nullopt and sets error.
    static std::optional<JsonRequest> parse(std::string_view body, unsigned max_depth, std::string& error);

    // Each accessor returns the value, or nullopt when absent (an error if required) or of the wrong type.
    std::optional<std::string> string(const char* name, Field field = Field::optional);
    std::optional<std::int64_t> integer(const char* name, Field field = Field::optional);
    std::optional<std::map<std::string, std::string>> string_map(const char* name,
                                                                 Field field = Field::optional);
    std::optional<std::vector<std::string>> string_list(const char* name, Field field = Field::optional);
    // A nested object, read with the same error tracking ("StreamNameCondition.ComparisonValue").
    std::optional<JsonRequest> object(const char* name, Field field = Field::optional);

    bool ok() const noexcept { return error_.empty(); }
    const std::string& error() const noexcept { return error_; }
    // Lets a nested object's error reach its parent.
    void absorb(const JsonRequest& child) {
        if (error_.empty()) error_ = child.error_;
    }

private:
    JsonRequest(nlohmann::json value, std::string prefix)
        : value_(std::move(value)), prefix_(std::move(prefix)) {}
    const nlohmann::json* find(const char* name, Field field);
    void fail(const char* name, std::string_view what);

    nlohmann::json value_;
    std::string prefix_;
    std::string error_;
};

}  // namespace kinema::server
