// Helpers shared by the fragment-log tests: a temporary data directory and fragment builders.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "kinema/storage/fragment_store.h"

namespace kinema::storage::test {

class TempDir {
public:
    TempDir() {
        std::string pattern = (std::filesystem::temp_directory_path() / "kinema-storage-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    TempDir(const TempDir&) = delete;
    TempDir& operator=(const TempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

private:
    std::filesystem::path path_;
};

// Deterministic fragment content: `seed` decides every byte, so a test can check a read byte for byte.
inline std::vector<std::uint8_t> fragment_bytes(std::uint64_t seed, std::size_t size) {
    std::vector<std::uint8_t> bytes(size);
    std::mt19937_64 rng(seed);
    for (auto& b : bytes)
        b = static_cast<std::uint8_t>(rng());
    return bytes;
}

inline FragmentMetadata metadata_at(std::int64_t producer_ms, std::int64_t server_ms, HeaderId header = 0) {
    FragmentMetadata meta;
    meta.producer_timestamp = media::Timestamp::from_milliseconds(producer_ms);
    meta.server_timestamp = media::Timestamp::from_milliseconds(server_ms);
    meta.duration = std::chrono::milliseconds(2000);
    meta.frame_count = 60;
    meta.track_numbers = {1};
    meta.key_frame_offsets = {0};
    meta.header_id = header;
    return meta;
}

}  // namespace kinema::storage::test
