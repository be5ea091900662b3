#include "json_request.h"

namespace kinema::server {
namespace {

// The nesting depth of a JSON text, counted before parsing: nlohmann's parser recurses, so a body of a
// million
// '[' would exhaust the stack before any callback could object. Brackets inside strings do not count.
std::size_t nesting_depth(std::string_view text) noexcept {
    std::size_t depth = 0;
    std::size_t deepest = 0;
    bool in_string = false;
    bool escaped = false;
    for (const char c : text) {
        if (in_string) {
            if (escaped) {
                escaped = false;
            } else if (c == '\\') {
                escaped = true;
            } else if (c == '"') {
                in_string = false;
            }
            continue;
        }
        if (c == '"') {
            in_string = true;
        } else if (c == '[' || c == '{') {
            deepest = std::max(deepest, ++depth);
        } else if ((c == ']' || c == '}') && depth > 0) {
            --depth;
        }
    }
    return deepest;
}

const char* type_name(const nlohmann::json& value) noexcept {
    return value.type_name();
}

}  // namespace

std::optional<JsonRequest> JsonRequest::parse(std::string_view body, unsigned max_depth, std::string& error) {
    if (body.find_first_not_of(" \t\r\n") == std::string_view::npos)
        return JsonRequest(nlohmann::json::object(), "");
    if (nesting_depth(body) > max_depth) {
        error = "request body nests deeper than " + std::to_string(max_depth) + " levels";
        return std::nullopt;
    }
    auto value = nlohmann::json::parse(body, nullptr, /*allow_exceptions=*/false);
    if (value.is_discarded()) {
        error = "request body is not valid JSON";
        return std::nullopt;
    }
    if (!value.is_object()) {
        error = "request body must be a JSON object";
        return std::nullopt;
    }
    return JsonRequest(std::move(value), "");
}

void JsonRequest::fail(const char* name, std::string_view what) {
    if (error_.empty()) error_ = prefix_ + name + " " + std::string(what);
}

const nlohmann::json* JsonRequest::find(const char* name, Field field) {
    const auto it = value_.find(name);
    // KVS treats an explicit null like an absent field.
    if (it == value_.end() || it->is_null()) {
        if (field == Field::required) fail(name, "is required");
        return nullptr;
    }
    return &*it;
}

std::optional<std::string> JsonRequest::string(const char* name, Field field) {
    const auto* v = find(name, field);
    if (v == nullptr) return std::nullopt;
    if (!v->is_string()) {
        fail(name, std::string("must be a string, not ") + type_name(*v));
        return std::nullopt;
    }
    return v->get<std::string>();
}

std::optional<std::int64_t> JsonRequest::integer(const char* name, Field field) {
    const auto* v = find(name, field);
    if (v == nullptr) return std::nullopt;
    if (v->is_number_integer()) {
        if (v->is_number_unsigned() && v->get<std::uint64_t>() > static_cast<std::uint64_t>(INT64_MAX)) {
            fail(name, "is out of range");
            return std::nullopt;
        }
        return v->get<std::int64_t>();
    }
    fail(name, std::string("must be an integer, not ") + (v->is_number() ? "a fraction" : type_name(*v)));
    return std::nullopt;
}

std::optional<std::map<std::string, std::string>> JsonRequest::string_map(const char* name, Field field) {
    const auto* v = find(name, field);
    if (v == nullptr) return std::nullopt;
    if (!v->is_object()) {
        fail(name, std::string("must be an object of strings, not ") + type_name(*v));
        return std::nullopt;
    }
    std::map<std::string, std::string> out;
    for (const auto& [key, value] : v->items()) {
        if (!value.is_string()) {
            fail(name, "values must be strings (" + key + " is " + type_name(value) + ")");
            return std::nullopt;
        }
        out.emplace(key, value.get<std::string>());
    }
    return out;
}

std::optional<std::vector<std::string>> JsonRequest::string_list(const char* name, Field field) {
    const auto* v = find(name, field);
    if (v == nullptr) return std::nullopt;
    if (!v->is_array()) {
        fail(name, std::string("must be a list of strings, not ") + type_name(*v));
        return std::nullopt;
    }
    std::vector<std::string> out;
    for (const auto& item : *v) {
        if (!item.is_string()) {
            fail(name, std::string("items must be strings, not ") + type_name(item));
            return std::nullopt;
        }
        out.push_back(item.get<std::string>());
    }
    return out;
}

std::optional<JsonRequest> JsonRequest::object(const char* name, Field field) {
    const auto* v = find(name, field);
    if (v == nullptr) return std::nullopt;
    if (!v->is_object()) {
        fail(name, std::string("must be an object, not ") + type_name(*v));
        return std::nullopt;
    }
    return JsonRequest(*v, prefix_ + name + ".");
}

}  // namespace kinema::server
