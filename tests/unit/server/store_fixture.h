// A FragmentStore in a temporary directory, filled with test fragments directly (no PutMedia session).
#pragma once

#include <gtest/gtest.h>

#include <kinema/storage/fragment_store.h>

#include "mkv_fixture.h"
#include "subprocess.h"

namespace kinema::server::test {

class StoreFixture : public ::testing::Test {
protected:
    void SetUp() override {
        storage::StoreOptions options;
        options.commit_max_wait = std::chrono::microseconds(0);
        options.retention_sweep_interval = std::chrono::milliseconds(0);
        store_ = storage::FragmentStore::open(dir_.path(), options);
        ASSERT_FALSE(store_->open_stream("cam1", 24));
    }

    // Appends each cluster of `stream` with producer timestamp = its timecode + producer_offset_ms and
    // server timestamp = server_start_ms + 1000 * index; returns the fragment numbers, durable.
    std::vector<storage::FragmentNumber> append(const TestStream& stream,
                                                const std::vector<ClusterSpec>& specs,
                                                std::int64_t producer_offset_ms = 0,
                                                std::int64_t server_start_ms = 1'700'000'000'000,
                                                const std::string& name = "cam1") {
        storage::HeaderId header = 0;
        EXPECT_FALSE(store_->put_header(name, stream.header, header));
        std::vector<storage::FragmentNumber> numbers;
        for (std::size_t i = 0; i < stream.clusters.size(); ++i) {
            storage::FragmentMetadata metadata;
            metadata.producer_timestamp =
                media::Timestamp::from_milliseconds(specs[i].timecode + producer_offset_ms);
            metadata.server_timestamp =
                media::Timestamp::from_milliseconds(server_start_ms + 1000 * static_cast<std::int64_t>(i));
            metadata.duration = std::chrono::milliseconds(specs[i].frames * specs[i].frame_interval_ms);
            metadata.frame_count = static_cast<std::uint32_t>(specs[i].frames);
            metadata.track_numbers = {1};
            metadata.key_frame_offsets = {0};
            metadata.header_id = header;
            storage::FragmentNumber number = 0;
            EXPECT_FALSE(store_->append(name, stream.clusters[i], metadata, number));
            numbers.push_back(number);
        }
        EXPECT_FALSE(store_->flush());
        return numbers;
    }

    kinema::test::TempDir dir_;
    std::unique_ptr<storage::FragmentStore> store_;
};

}  // namespace kinema::server::test
