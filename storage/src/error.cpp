#include "kinema/storage/error.h"

#include <string>

namespace kinema::storage {
namespace {

class StorageCategory final : public std::error_category {
public:
    const char* name() const noexcept override { return "kinema.storage"; }
    std::string message(int value) const override {
        switch (static_cast<Errc>(value)) {
            case Errc::ok:
                return "success";
            case Errc::resource_not_found:
                return "stream not found";
            case Errc::resource_in_use:
                return "resource in use";
            case Errc::invalid_argument:
                return "invalid argument";
            case Errc::version_mismatch:
                return "stream version does not match CurrentVersion";
            case Errc::tags_per_resource_exceeded:
                return "more than 50 tags";
            case Errc::client_limit_exceeded:
                return "client limit exceeded";
            case Errc::fragment_not_found:
                return "fragment not found";
            case Errc::disk_full:
                return "disk full";
            case Errc::io_error:
                return "I/O error";
            case Errc::corrupt_record:
                return "corrupt record";
            case Errc::closed:
                return "storage is closed";
            case Errc::commit_backlog:
                return "too much data waiting to be made durable";
        }
        return "unknown storage error";
    }
};

}  // namespace

const std::error_category& storage_category() noexcept {
    static const StorageCategory category;
    return category;
}

const char* kvs_error_name(std::error_code ec) noexcept {
    if (ec.category() != storage_category()) return "InternalFailure";
    switch (static_cast<Errc>(ec.value())) {
        case Errc::resource_not_found:
        case Errc::fragment_not_found:
            return "ResourceNotFoundException";
        case Errc::resource_in_use:
            return "ResourceInUseException";
        case Errc::invalid_argument:
            return "InvalidArgumentException";
        case Errc::version_mismatch:
            return "VersionMismatchException";
        case Errc::tags_per_resource_exceeded:
            return "TagsPerResourceExceededLimitException";
        case Errc::client_limit_exceeded:
            return "ClientLimitExceededException";
        default:
            return "InternalFailure";
    }
}

}  // namespace kinema::storage
