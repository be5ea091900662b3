#include "kinema/storage/catalog.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <random>
#include <set>
#include <string>
#include <thread>
#include <vector>

namespace kinema::storage {
namespace {

namespace fs = std::filesystem;

class TempDir {
public:
    TempDir() {
        std::random_device rd;
        path_ = fs::temp_directory_path() /
                ("kinema-catalog-test-" + std::to_string(rd()) + std::to_string(rd()));
        fs::create_directories(path_);
    }
    ~TempDir() {
        std::error_code ec;
        fs::remove_all(path_, ec);
    }
    const fs::path& path() const { return path_; }

private:
    fs::path path_;
};

// The Errc of an error (ok when none), so table rows can expect success and failures alike.
Errc errc_of(const CatalogError& e) {
    if (!e) return Errc::ok;
    EXPECT_EQ(&e.code.category(), &storage_category()) << e.message;
    return static_cast<Errc>(e.code.value());
}

class CatalogTest : public ::testing::Test {
protected:
    void SetUp() override { reopen(); }

    void reopen() {
        catalog_.reset();
        CatalogError error;
        catalog_ = Catalog::open(dir_.path() / "data", CatalogOptions{"eu-west-1", "123456789012"}, error);
        ASSERT_TRUE(catalog_) << error.message;
    }

    StreamInfo create(const std::string& name, Tags tags = {}) {
        NewStream s;
        s.name = name;
        s.media_type = "video/h264";
        s.device_name = "cam-device";
        s.data_retention_hours = 24;
        s.tags = std::move(tags);
        StreamInfo info;
        const auto e = catalog_->create_stream(s, &info);
        EXPECT_FALSE(e) << e.message;
        return info;
    }

    StreamInfo describe(const std::string& name) {
        StreamInfo info;
        const auto e = catalog_->describe_stream({name, {}}, info);
        EXPECT_FALSE(e) << e.message;
        return info;
    }

    TempDir dir_;
    std::unique_ptr<Catalog> catalog_;
};

TEST_F(CatalogTest, CreateThenDescribeByNameAndArn) {
    const auto created = create("cam1", {{"site", "north"}});
    EXPECT_EQ(created.name, "cam1");
    EXPECT_EQ(created.arn, "arn:aws:kinesisvideo:eu-west-1:123456789012:stream/cam1/" +
                               std::to_string(created.creation_time_ms));
    EXPECT_GT(created.id, 0);
    EXPECT_FALSE(created.version.empty());

    const auto by_name = describe("cam1");
    EXPECT_EQ(by_name.arn, created.arn);
    EXPECT_EQ(by_name.media_type, "video/h264");
    EXPECT_EQ(by_name.device_name, "cam-device");
    EXPECT_EQ(by_name.data_retention_hours, 24);
    EXPECT_EQ(by_name.status, StreamStatus::active);
    EXPECT_EQ(by_name.version, created.version);

    StreamInfo by_arn;
    ASSERT_FALSE(catalog_->describe_stream({{}, created.arn}, by_arn));
    EXPECT_EQ(by_arn.name, "cam1");
    ASSERT_FALSE(catalog_->describe_stream({"cam1", created.arn}, by_arn));
}

TEST_F(CatalogTest, DuplicateCreateIsResourceInUse) {
    create("cam1");
    NewStream s;
    s.name = "cam1";
    const auto e = catalog_->create_stream(s);
    EXPECT_EQ(e.code, Errc::resource_in_use);
    EXPECT_STREQ(kvs_error_name(e.code), "ResourceInUseException");
}

TEST_F(CatalogTest, MissingStreamIsResourceNotFound) {
    StreamInfo info;
    EXPECT_EQ(catalog_->describe_stream({"nope", {}}, info).code, Errc::resource_not_found);
    EXPECT_EQ(catalog_->describe_stream({{}, "arn:aws:kinesisvideo:eu-west-1:1:stream/nope/1"}, info).code,
              Errc::resource_not_found);
    EXPECT_EQ(catalog_->delete_stream({"nope", {}}, {}, {}).code, Errc::resource_not_found);
    EXPECT_EQ(catalog_->tag_stream({"nope", {}}, {{"a", "b"}}).code, Errc::resource_not_found);
}

TEST_F(CatalogTest, StreamRefMustNameOneStream) {
    const auto a = create("a");
    create("b");
    StreamInfo info;
    EXPECT_EQ(catalog_->describe_stream({}, info).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->describe_stream({"b", a.arn}, info).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->describe_stream({{}, "not-an-arn"}, info).code, Errc::invalid_argument);
}

struct NewStreamCase {
    const char* label;
    NewStream stream;
    Errc expected;
};

TEST_F(CatalogTest, CreateValidation) {
    Tags too_many;
    for (int i = 0; i < 51; ++i)
        too_many["k" + std::to_string(i)] = "v";
    const std::vector<NewStreamCase> cases = {
        {"empty name", {"", "", "", "", 0, {}}, Errc::invalid_argument},
        {"name 257 chars", {std::string(257, 'a'), "", "", "", 0, {}}, Errc::invalid_argument},
        {"name 256 chars", {std::string(256, 'a'), "", "", "", 0, {}}, Errc::ok},
        {"slash in name", {"a/b", "", "", "", 0, {}}, Errc::invalid_argument},
        {"space in name", {"a b", "", "", "", 0, {}}, Errc::invalid_argument},
        {"dots and dashes", {"a.b-c_d", "", "", "", 0, {}}, Errc::ok},
        {"negative retention", {"r1", "", "", "", -1, {}}, Errc::invalid_argument},
        {"retention too long", {"r2", "", "", "", 87601, {}}, Errc::invalid_argument},
        {"max retention", {"r3", "", "", "", 87600, {}}, Errc::ok},
        {"bad media type", {"m1", "", "h264", "", 0, {}}, Errc::invalid_argument},
        {"media type list", {"m2", "", "video/h264,audio/aac", "", 0, {}}, Errc::ok},
        {"bad device", {"d1", "dev ice", "", "", 0, {}}, Errc::invalid_argument},
        {"empty tag key", {"t1", "", "", "", 0, {{"", "v"}}}, Errc::invalid_argument},
        {"tag key 129", {"t2", "", "", "", 0, {{std::string(129, 'k'), "v"}}}, Errc::invalid_argument},
        {"tag value 257", {"t3", "", "", "", 0, {{"k", std::string(257, 'v')}}}, Errc::invalid_argument},
        {"tag value empty", {"t4", "", "", "", 0, {{"k", ""}}}, Errc::ok},
        {"tag value utf8 256 chars",
         {"t5",
          "",
          "",
          "",
          0,
          {{"k",
            [] {
                std::string s;
                for (int i = 0; i < 256; ++i)
                    s += "\xc3\xa9";
                return s;
            }()}}},
         Errc::ok},
        {"51 tags", {"t6", "", "", "", 0, too_many}, Errc::tags_per_resource_exceeded},
    };
    for (const auto& c : cases) {
        const auto e = catalog_->create_stream(c.stream);
        EXPECT_EQ(errc_of(e), c.expected) << c.label << ": " << e.message;
        if (c.expected != Errc::ok) {
            EXPECT_FALSE(e.message.empty()) << c.label;
        }
    }
}

TEST_F(CatalogTest, ListStreamsFiltersByPrefixAndPages) {
    for (const char* name : {"cam-a", "cam-b", "cam-c", "cam-d", "cam-e", "door-1", "camel"})
        create(name);

    StreamPage page;
    ASSERT_FALSE(catalog_->list_streams("cam-", 2, {}, page));
    std::vector<std::string> names;
    while (true) {
        ASSERT_LE(page.streams.size(), 2u);
        for (const auto& s : page.streams)
            names.push_back(s.name);
        if (page.next_token.empty()) break;
        const std::string token = page.next_token;
        ASSERT_FALSE(catalog_->list_streams("cam-", 2, token, page));
    }
    EXPECT_EQ(names, (std::vector<std::string>{"cam-a", "cam-b", "cam-c", "cam-d", "cam-e"}));

    ASSERT_FALSE(catalog_->list_streams({}, 10000, {}, page));
    EXPECT_EQ(page.streams.size(), 7u);
    EXPECT_TRUE(page.next_token.empty());

    // Exactly a full page: no token pointing at an empty page.
    ASSERT_FALSE(catalog_->list_streams("cam-", 5, {}, page));
    EXPECT_EQ(page.streams.size(), 5u);
    EXPECT_TRUE(page.next_token.empty());

    ASSERT_FALSE(catalog_->list_streams("zzz", 10, {}, page));
    EXPECT_TRUE(page.streams.empty());
}

TEST_F(CatalogTest, ListStreamsRejectsBadArguments) {
    StreamPage page;
    EXPECT_EQ(catalog_->list_streams({}, 0, {}, page).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->list_streams({}, 10001, {}, page).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->list_streams({}, 10, "not hex!", page).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->list_streams({}, 10, "abc", page).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->list_streams("a/b", 10, {}, page).code, Errc::invalid_argument);
}

TEST_F(CatalogTest, UpdateBumpsVersionAndStaleVersionMismatches) {
    const auto created = create("cam1");
    StreamUpdate update;
    update.stream = {"cam1", {}};
    update.current_version = created.version;
    update.media_type = "video/h265";
    ASSERT_FALSE(catalog_->update_stream(update));
    const auto after = describe("cam1");
    EXPECT_EQ(after.media_type, "video/h265");
    EXPECT_EQ(after.device_name, "cam-device");  // not given, so unchanged
    EXPECT_NE(after.version, created.version);

    const auto stale = catalog_->update_stream(update);
    EXPECT_EQ(stale.code, Errc::version_mismatch);
    EXPECT_STREQ(kvs_error_name(stale.code), "VersionMismatchException");
    EXPECT_EQ(describe("cam1").media_type, "video/h265");

    update.current_version = after.version;
    update.device_name = "bad name";
    EXPECT_EQ(catalog_->update_stream(update).code, Errc::invalid_argument);
}

TEST_F(CatalogTest, UpdateDataRetention) {
    auto info = create("cam1");  // 24 h
    struct Case {
        RetentionChange change;
        std::int64_t hours;
        Errc expected;
        std::int64_t retention_after;
    };
    const std::vector<Case> cases = {
        {RetentionChange::increase, 6, Errc::ok, 30},
        {RetentionChange::decrease, 30, Errc::ok, 0},
        {RetentionChange::decrease, 1, Errc::invalid_argument, 0},
        {RetentionChange::increase, 0, Errc::invalid_argument, 0},
        {RetentionChange::increase, 87600, Errc::ok, 87600},
        {RetentionChange::increase, 1, Errc::invalid_argument, 87600},
    };
    for (const auto& c : cases) {
        const auto e = catalog_->update_data_retention({"cam1", {}}, info.version, c.change, c.hours);
        EXPECT_EQ(errc_of(e), c.expected) << c.hours << ": " << e.message;
        const auto now = describe("cam1");
        EXPECT_EQ(now.data_retention_hours, c.retention_after);
        if (c.expected == Errc::ok) {
            EXPECT_NE(now.version, info.version);
        }
        info = now;
    }
    EXPECT_EQ(catalog_->update_data_retention({"cam1", {}}, "stale", RetentionChange::increase, 1).code,
              Errc::version_mismatch);
}

TEST_F(CatalogTest, TagUntagAndList) {
    create("cam1", {{"a", "1"}});
    ASSERT_FALSE(catalog_->tag_stream({"cam1", {}}, {{"a", "2"}, {"b", "3"}}));
    TagPage page;
    ASSERT_FALSE(catalog_->list_tags({"cam1", {}}, {}, page));
    EXPECT_EQ(page.tags, (Tags{{"a", "2"}, {"b", "3"}}));
    EXPECT_TRUE(page.next_token.empty());

    ASSERT_FALSE(catalog_->untag_stream({"cam1", {}}, {"a", "missing"}));
    ASSERT_FALSE(catalog_->list_tags({"cam1", {}}, {}, page));
    EXPECT_EQ(page.tags, (Tags{{"b", "3"}}));

    EXPECT_EQ(catalog_->untag_stream({"cam1", {}}, {}).code, Errc::invalid_argument);
    EXPECT_EQ(catalog_->tag_stream({"cam1", {}}, {}).code, Errc::invalid_argument);
}

TEST_F(CatalogTest, AtMostFiftyTagsInTotal) {
    Tags first;
    for (int i = 0; i < 50; ++i)
        first["k" + std::to_string(i)] = "v";
    create("cam1", first);
    // Overwriting existing keys keeps the count at 50.
    ASSERT_FALSE(catalog_->tag_stream({"cam1", {}}, {{"k0", "changed"}}));
    const auto e = catalog_->tag_stream({"cam1", {}}, {{"one-more", "v"}});
    EXPECT_EQ(e.code, Errc::tags_per_resource_exceeded);
    EXPECT_STREQ(kvs_error_name(e.code), "TagsPerResourceExceededLimitException");
    TagPage page;
    ASSERT_FALSE(catalog_->list_tags({"cam1", {}}, {}, page));
    EXPECT_EQ(page.tags.size(), 50u);
    EXPECT_EQ(page.tags.count("one-more"), 0u);  // the failed call changed nothing
    EXPECT_EQ(page.tags["k0"], "changed");
}

TEST_F(CatalogTest, DeleteRunsDataHookThenRemovesRow) {
    const auto created = create("cam1", {{"a", "b"}});
    std::vector<StreamInfo> seen;
    ASSERT_FALSE(catalog_->delete_stream({{}, created.arn}, created.version, [&](const StreamInfo& info) {
        seen.push_back(info);
        // While data is removed the stream is visible as DELETING and its name is still taken.
        StreamInfo during;
        EXPECT_FALSE(catalog_->describe_stream({"cam1", {}}, during));
        EXPECT_EQ(during.status, StreamStatus::deleting);
        NewStream again;
        again.name = "cam1";
        EXPECT_EQ(catalog_->create_stream(again).code, Errc::resource_in_use);
        EXPECT_EQ(catalog_->delete_stream({"cam1", {}}, {}, {}).code, Errc::resource_in_use);
        return std::error_code{};
    }));
    ASSERT_EQ(seen.size(), 1u);
    EXPECT_EQ(seen[0].id, created.id);
    StreamInfo info;
    EXPECT_EQ(catalog_->describe_stream({"cam1", {}}, info).code, Errc::resource_not_found);

    // The name is free again, with a new ARN, and no tags carried over.
    const auto recreated = create("cam1");
    EXPECT_NE(recreated.arn, created.arn);
    EXPECT_NE(recreated.id, created.id);
    TagPage page;
    ASSERT_FALSE(catalog_->list_tags({"cam1", {}}, {}, page));
    EXPECT_TRUE(page.tags.empty());
}

TEST_F(CatalogTest, DeleteWithStaleVersionKeepsStream) {
    create("cam1");
    EXPECT_EQ(catalog_->delete_stream({"cam1", {}}, "stale", {}).code, Errc::version_mismatch);
    EXPECT_EQ(describe("cam1").status, StreamStatus::active);
}

TEST_F(CatalogTest, FailedDataDeletionLeavesStreamDeletingAndRetryable) {
    create("cam1");
    const auto e = catalog_->delete_stream({"cam1", {}}, {},
                                           [](const StreamInfo&) { return make_error_code(Errc::io_error); });
    EXPECT_EQ(e.code, Errc::io_error);
    EXPECT_EQ(describe("cam1").status, StreamStatus::deleting);

    reopen();  // survives a restart, so start-up can finish the job
    std::vector<StreamInfo> pending;
    ASSERT_FALSE(catalog_->streams_being_deleted(pending));
    ASSERT_EQ(pending.size(), 1u);
    EXPECT_EQ(pending[0].name, "cam1");

    StreamUpdate update{{"cam1", {}}, describe("cam1").version, {}, std::string("video/h264")};
    EXPECT_EQ(catalog_->update_stream(update).code, Errc::resource_in_use);

    ASSERT_FALSE(catalog_->delete_stream({"cam1", {}}, {}, {}));
    ASSERT_FALSE(catalog_->streams_being_deleted(pending));
    EXPECT_TRUE(pending.empty());
}

TEST_F(CatalogTest, DataSurvivesReopen) {
    const auto created = create("cam1", {{"k", "v"}});
    reopen();
    const auto info = describe("cam1");
    EXPECT_EQ(info.arn, created.arn);
    EXPECT_EQ(info.version, created.version);
    EXPECT_EQ(info.creation_time_ms, created.creation_time_ms);
    TagPage page;
    ASSERT_FALSE(catalog_->list_tags({"cam1", {}}, {}, page));
    EXPECT_EQ(page.tags, (Tags{{"k", "v"}}));
    EXPECT_TRUE(fs::exists(dir_.path() / "data" / "catalog.db"));
}

TEST_F(CatalogTest, ConcurrentCreatesAreAllRecorded) {
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([this, t] {
            for (int i = 0; i < 25; ++i) {
                NewStream s;
                s.name = "s" + std::to_string(t) + "-" + std::to_string(i);
                EXPECT_FALSE(catalog_->create_stream(s));
                NewStream dup;
                dup.name = "shared-" + std::to_string(i);
                const auto e = catalog_->create_stream(dup);
                EXPECT_TRUE(!e || e.code == Errc::resource_in_use) << e.message;
            }
        });
    }
    for (auto& t : threads)
        t.join();
    StreamPage page;
    ASSERT_FALSE(catalog_->list_streams({}, 10000, {}, page));
    EXPECT_EQ(page.streams.size(), 125u);
    std::set<std::string> arns;
    for (const auto& s : page.streams)
        arns.insert(s.arn);
    EXPECT_EQ(arns.size(), 125u);
}

TEST(CatalogOpen, FailsClearlyWhenDataDirIsAFile) {
    TempDir dir;
    const auto file = dir.path() / "file";
    { std::ofstream(file) << "x"; }
    CatalogError error;
    EXPECT_EQ(Catalog::open(file, {}, error), nullptr);
    EXPECT_TRUE(error);
    EXPECT_NE(error.message.find(file.string()), std::string::npos) << error.message;
}

}  // namespace
}  // namespace kinema::storage
