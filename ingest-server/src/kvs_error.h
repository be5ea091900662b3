// KVS-shaped error responses: HTTP status, `x-amzn-ErrorType: <Name>` and
// `{"__type":"<Name>","Message":"..."}`. botocore's rest-json parser takes the error code from the header
// (falling back to __type), so boto3 raises client.exceptions.<Name>.
#pragma once

#include <string_view>

#include "api.h"
#include "kinema/storage/catalog.h"

namespace kinema::server {

// name is the full exception name, e.g. "ResourceNotFoundException".
ApiResponse kvs_error(unsigned status, std::string_view name, std::string_view message);

// 400 InvalidArgumentException.
ApiResponse invalid_argument(std::string_view message);

// Maps a catalog error onto KVS's name and status (404 for ResourceNotFound, 500 for storage faults).
ApiResponse kvs_error(const storage::CatalogError& error);

}  // namespace kinema::server
