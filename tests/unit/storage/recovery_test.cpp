// Recovery of a stream directory after a crash: torn tails at every byte, missing or damaged index files,
// damaged data, and failed writes (disk full) through the injected hook and, where the test may mount
// one, a real full tmpfs.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstring>
#include <fstream>
#include <future>

#include "kinema/storage/error.h"
#include "kinema/storage/fragment_store.h"
#include "record.h"
#include "recovery.h"
#include "staged_writes.h"
#include "storage_test_util.h"

namespace kinema::storage {
namespace {

namespace fs = std::filesystem;
using test::fragment_bytes;
using test::metadata_at;
using test::TempDir;

// Small records keep the every-byte truncation test short (one reopen per byte).
constexpr std::size_t kPayload = 40;

StoreOptions test_options() {
    StoreOptions options;
    options.retention_sweep_interval = std::chrono::milliseconds(0);
    options.commit_max_wait = std::chrono::microseconds(0);
    return options;
}

fs::path only_file(const fs::path& dir, const std::string& extension) {
    fs::path found;
    int count = 0;
    for (const auto& e : fs::directory_iterator(dir)) {
        if (e.path().extension() == extension) {
            found = e.path();
            ++count;
        }
    }
    EXPECT_EQ(count, 1) << extension;
    return found;
}

void flip_byte(const fs::path& file, std::uint64_t offset) {
    std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(static_cast<std::streamoff>(offset));
    char c = 0;
    f.read(&c, 1);
    c = static_cast<char>(c ^ 0x40);
    f.seekp(static_cast<std::streamoff>(offset));
    f.write(&c, 1);
}

// Three fragments written and closed cleanly; returns their numbers.
std::vector<FragmentNumber> write_three(const fs::path& data_dir) {
    auto store = FragmentStore::open(data_dir, test_options());
    EXPECT_FALSE(store->open_stream("s", 1));
    std::vector<FragmentNumber> numbers;
    for (int i = 0; i < 3; ++i) {
        FragmentNumber n = 0;
        EXPECT_FALSE(store->append("s", fragment_bytes(i, kPayload), metadata_at(i * 1000, i * 1000), n));
        numbers.push_back(n);
    }
    EXPECT_FALSE(store->flush());
    return numbers;
}

// The records of the stream's only segment, as its index file has them: where each starts and ends (a
// commit round pads its write to the direct-I/O alignment, so records need not be back to back).
std::vector<IndexEntry> indexed_records(const fs::path& stream_dir) {
    std::ifstream idx(only_file(stream_dir, ".idx"), std::ios::binary);
    std::vector<IndexEntry> entries;
    std::uint8_t raw[kIndexEntrySize];
    while (idx.read(reinterpret_cast<char*>(raw), kIndexEntrySize)) {
        IndexEntry e;
        EXPECT_FALSE(decode_index_entry(raw, e));
        entries.push_back(e);
    }
    return entries;
}

void expect_fragments(FragmentStore& store, const std::vector<FragmentNumber>& numbers, std::size_t intact) {
    for (std::size_t i = 0; i < numbers.size(); ++i) {
        Fragment f;
        const auto ec = store.read("s", numbers[i], f);
        if (i < intact) {
            ASSERT_FALSE(ec) << i;
            EXPECT_EQ(*f.bytes, fragment_bytes(i, kPayload)) << i;
        } else {
            EXPECT_EQ(ec, make_error_code(Errc::fragment_not_found)) << i;
        }
    }
}

TEST(Recovery, TruncatingTheLastRecordAtEveryByteCutsItCleanly) {
    TempDir pristine;
    const auto numbers = write_three(pristine.path());
    const fs::path stream_dir = pristine.path() / "streams" / "s";
    const auto records = indexed_records(stream_dir);
    ASSERT_EQ(records.size(), 3u);
    const std::uint64_t last_start = records[2].offset;
    const std::uint64_t last_end = last_start + records[2].record_len;
    // With the index entry of the last record kept (it was written, the data was then lost) and without it
    // (the process died before writing it).
    for (bool keep_index : {false, true}) {
        for (std::uint64_t cut = last_start; cut < last_end; ++cut) {
            TempDir copy;
            fs::copy(pristine.path(), copy.path(), fs::copy_options::recursive);
            const fs::path dir = copy.path() / "streams" / "s";
            fs::resize_file(only_file(dir, ".seg"), cut);
            if (!keep_index) fs::resize_file(only_file(dir, ".idx"), 2 * kIndexEntrySize);
            auto store = FragmentStore::open(copy.path(), test_options());
            ASSERT_FALSE(store->open_stream("s", 1)) << cut;
            expect_fragments(*store, numbers, 2);
            EXPECT_EQ(fs::file_size(only_file(dir, ".seg")), last_start) << "torn tail not cut at " << cut;
            EXPECT_EQ(fs::file_size(only_file(dir, ".idx")), 2 * kIndexEntrySize) << cut;
            FragmentInfo newest;
            ASSERT_FALSE(store->newest("s", newest));
            EXPECT_EQ(newest.number, numbers[1]);
            // The log keeps working after the cut: a new fragment lands where the torn one was.
            FragmentNumber n = 0;
            ASSERT_FALSE(store->append("s", fragment_bytes(7, kPayload), metadata_at(5000, 5000), n));
            ASSERT_FALSE(store->flush());
            EXPECT_GT(n, numbers[1]);
            Fragment f;
            ASSERT_FALSE(store->read("s", n, f));
            EXPECT_EQ(*f.bytes, fragment_bytes(7, kPayload));
        }
    }
}

TEST(Recovery, AnIntactLogOpensFromTheIndexAlone) {
    TempDir dir;
    const auto numbers = write_three(dir.path());
    const fs::path stream_dir = dir.path() / "streams" / "s";
    const auto seg = only_file(stream_dir, ".seg");
    // Damage a payload byte of the middle fragment: opening must not notice (it reads no fragment data),
    // reading that fragment must refuse to serve it, the others are fine.
    const auto records = indexed_records(stream_dir);
    ASSERT_EQ(records.size(), 3u);
    flip_byte(seg, records[1].offset + records[1].record_len - 5);
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    Fragment f;
    EXPECT_EQ(store->read("s", numbers[1], f), make_error_code(Errc::corrupt_record));
    ASSERT_FALSE(store->read("s", numbers[0], f));
    ASSERT_FALSE(store->read("s", numbers[2], f));
    FragmentInfo info;
    ASSERT_FALSE(store->get_info("s", numbers[1], info));  // its index entry is still there
}

TEST(Recovery, TheCommonCaseReadsOnlyTheIndex) {
    // Both ways of loading an index file: copied (small) and used in place through a mapping.
    for (std::uint64_t map_min : {std::uint64_t{1} << 20, std::uint64_t{0}}) {
        TempDir dir;
        write_three(dir.path());
        const fs::path stream_dir = dir.path() / "streams" / "s";
        RecoveryOptions options;
        options.map_index_min_bytes = map_min;
        {
            RecoveredStream clean;
            ASSERT_FALSE(recover_stream(stream_dir, options, clean));
            EXPECT_EQ(clean.report.entries_loaded, 3u);
            EXPECT_EQ(clean.report.records_scanned, 0u);  // no fragment data read
            EXPECT_EQ(clean.report.bytes_cut, 0u);
            ASSERT_EQ(clean.index.size(), 3u);
            EXPECT_EQ(clean.index[2].size, kPayload);
        }
        // The process died after a commit round's sync, before its index write: only that record is read.
        fs::resize_file(only_file(stream_dir, ".idx"), 2 * kIndexEntrySize);
        RecoveredStream crashed;
        ASSERT_FALSE(recover_stream(stream_dir, options, crashed));
        EXPECT_EQ(crashed.report.entries_loaded, 2u);
        EXPECT_EQ(crashed.report.records_scanned, 1u);
        ASSERT_EQ(crashed.index.size(), 3u);
        EXPECT_EQ(crashed.index[1].producer_ns, 1'000'000'000);
    }
}

TEST(Recovery, EachCommitRoundStartsOnABoundaryAndItsPaddingIsNotDamage) {
    TempDir dir;
    std::vector<FragmentNumber> numbers;
    {
        auto store = FragmentStore::open(dir.path(), test_options());
        ASSERT_FALSE(store->open_stream("s", 1));
        for (int i = 0; i < 3; ++i) {  // one commit round each
            FragmentNumber n = 0;
            ASSERT_FALSE(store->append("s", fragment_bytes(i, kPayload), metadata_at(i * 1000, i * 1000), n));
            ASSERT_FALSE(store->flush());
            numbers.push_back(n);
        }
    }
    const fs::path stream_dir = dir.path() / "streams" / "s";
    const auto records = indexed_records(stream_dir);
    ASSERT_EQ(records.size(), 3u);
    for (std::size_t i = 1; i < records.size(); ++i)
        EXPECT_EQ(records[i].offset, align_up(records[i - 1].offset + records[i - 1].record_len));
    const auto seg = only_file(stream_dir, ".seg");
    EXPECT_EQ(fs::file_size(seg), align_up(records[2].offset + records[2].record_len));

    // The last round's write lost after its padding began (only zeros reached the disk past record 2),
    // and its index entry never written: the zeros are padding, not a torn record.
    const std::uint64_t second_end = records[1].offset + records[1].record_len;
    fs::resize_file(seg, second_end + 7);
    fs::resize_file(only_file(stream_dir, ".idx"), 2 * kIndexEntrySize);
    RecoveredStream padded;
    ASSERT_FALSE(recover_stream(stream_dir, RecoveryOptions{}, padded));
    EXPECT_EQ(padded.report.bytes_cut, 0u);
    EXPECT_EQ(padded.index.size(), 2u);
    padded = RecoveredStream{};

    // A non-zero byte where padding should be is damage: cut back to the end of record 2.
    flip_byte(seg, second_end + 3);
    {
        auto store = FragmentStore::open(dir.path(), test_options());
        ASSERT_FALSE(store->open_stream("s", 1));
        expect_fragments(*store, numbers, 2);
        EXPECT_EQ(fs::file_size(seg), second_end);
        // The log goes on from the next boundary.
        FragmentNumber n = 0;
        ASSERT_FALSE(store->append("s", fragment_bytes(2, kPayload), metadata_at(2000, 2000), n));
        ASSERT_FALSE(store->flush());
        numbers[2] = n;
    }
    EXPECT_EQ(indexed_records(stream_dir).back().offset, align_up(second_end));
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    expect_fragments(*store, numbers, 3);
}

TEST(Recovery, AMissingIndexIsRebuiltFromTheRecords) {
    TempDir dir;
    const auto numbers = write_three(dir.path());
    const fs::path stream_dir = dir.path() / "streams" / "s";
    fs::remove(only_file(stream_dir, ".idx"));
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    expect_fragments(*store, numbers, 3);
    EXPECT_EQ(fs::file_size(only_file(stream_dir, ".idx")), 3 * kIndexEntrySize);
    FragmentInfo info;
    ASSERT_FALSE(
        store->find_at_or_after("s", TimestampKind::producer, media::Timestamp::from_milliseconds(1), info));
    EXPECT_EQ(info.number, numbers[1]);
}

TEST(Recovery, DamagedIndexEntriesAreDroppedAndRebuilt) {
    // Every byte of the middle entry, and garbage past the end.
    for (std::uint64_t at = kIndexEntrySize; at < 2 * kIndexEntrySize; at += 7) {
        TempDir dir;
        const auto numbers = write_three(dir.path());
        const fs::path stream_dir = dir.path() / "streams" / "s";
        flip_byte(only_file(stream_dir, ".idx"), at);
        auto store = FragmentStore::open(dir.path(), test_options());
        ASSERT_FALSE(store->open_stream("s", 1));
        expect_fragments(*store, numbers, 3);
        EXPECT_EQ(fs::file_size(only_file(stream_dir, ".idx")), 3 * kIndexEntrySize);
    }
}

TEST(Recovery, ZeroFilledTailAfterAPowerCutIsCut) {
    TempDir dir;
    const auto numbers = write_three(dir.path());
    const fs::path stream_dir = dir.path() / "streams" / "s";
    const auto seg = only_file(stream_dir, ".seg");
    const auto size = fs::file_size(seg);
    fs::resize_file(seg, size + 4096);  // what a file system can leave after a crash: zeros past the data
    {
        std::ofstream idx(only_file(stream_dir, ".idx"), std::ios::binary | std::ios::app);
        const std::string zeros(kIndexEntrySize, '\0');
        idx << zeros;
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    expect_fragments(*store, numbers, 3);
    EXPECT_EQ(fs::file_size(seg), size);
}

TEST(Recovery, DiskFullFailsTheAppendDamagesNothingAndPassesWhenSpaceReturns) {
    TempDir dir;
    std::atomic<bool> full{false};
    auto options = test_options();
    options.write_fault = [&](const fs::path& file, std::size_t) -> std::error_code {
        if (full && file.extension() == ".seg") return std::make_error_code(std::errc::no_space_on_device);
        return {};
    };
    std::vector<FragmentNumber> committed;
    {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        for (int i = 0; i < 3; ++i) {
            FragmentNumber n = 0;
            ASSERT_FALSE(store->append("s", fragment_bytes(i, kPayload), metadata_at(i, i), n));
            committed.push_back(n);
        }
        full = true;
        bool callback_called = false;
        FragmentNumber n = 0;
        EXPECT_EQ(store->append("s", fragment_bytes(50, kPayload), metadata_at(50, 50), n,
                                [&](FragmentNumber, std::error_code) { callback_called = true; }),
                  make_error_code(Errc::disk_full));
        ASSERT_FALSE(store->flush());
        EXPECT_FALSE(callback_called);
        expect_fragments(*store, committed, 3);
        full = false;
        ASSERT_FALSE(store->append("s", fragment_bytes(3, kPayload), metadata_at(3, 3), n));
        committed.push_back(n);
        ASSERT_FALSE(store->flush());
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    expect_fragments(*store, committed, 4);
    FragmentPage page;
    ASSERT_FALSE(store->list("s", TimestampKind::producer, media::Timestamp{},
                             media::Timestamp::from_milliseconds(100), 100, "", page));
    EXPECT_EQ(page.fragments.size(), 4u);
}

TEST(Recovery, AFailedSyncFailsItsFragmentsCutsThemAndTheLogMovesOn) {
    TempDir dir;
    std::atomic<bool> failing{false};
    auto options = test_options();
    options.sync_fault = [&]() -> std::error_code {
        return failing ? std::make_error_code(std::errc::io_error) : std::error_code{};
    };
    FragmentNumber a = 0, b = 0, c = 0;
    {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        ASSERT_FALSE(store->append("s", fragment_bytes(0, kPayload), metadata_at(0, 0), a));
        ASSERT_FALSE(store->flush());
        failing = true;
        std::promise<std::error_code> b_result;
        ASSERT_FALSE(store->append("s", fragment_bytes(1, kPayload), metadata_at(1, 1), b,
                                   [&](FragmentNumber, std::error_code ec) { b_result.set_value(ec); }));
        EXPECT_EQ(b_result.get_future().get(), make_error_code(Errc::io_error));
        Fragment f;
        EXPECT_EQ(store->read("s", b, f), make_error_code(Errc::fragment_not_found));
        EXPECT_FALSE(
            store->find_duplicate("s", media::Timestamp::from_milliseconds(1), fragment_bytes(1, kPayload)));
        failing = false;
        ASSERT_FALSE(store->append("s", fragment_bytes(2, kPayload), metadata_at(2, 2), c));
        ASSERT_FALSE(store->flush());
        EXPECT_GT(c, b);
        ASSERT_FALSE(store->read("s", c, f));
        EXPECT_EQ(*f.bytes, fragment_bytes(2, kPayload));
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    Fragment f;
    ASSERT_FALSE(store->read("s", a, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(0, kPayload));
    EXPECT_EQ(store->read("s", b, f), make_error_code(Errc::fragment_not_found));
    ASSERT_FALSE(store->read("s", c, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(2, kPayload));
}

TEST(Recovery, AFailedStagedWriteFailsItsFragmentsWithItsErrorAndTheLogMovesOn) {
    TempDir dir;
    std::atomic<bool> failing{false};
    auto options = test_options();
    options.staged_write_fault = [&](const fs::path& file, std::size_t bytes) -> std::error_code {
        EXPECT_EQ(file.extension(), ".seg");
        EXPECT_EQ(bytes % kDirectIoAlignment, 0u);
        return failing ? std::make_error_code(std::errc::no_space_on_device) : std::error_code{};
    };
    FragmentNumber a = 0, b = 0, c = 0;
    {
        auto store = FragmentStore::open(dir.path(), options);
        ASSERT_FALSE(store->open_stream("s", 1));
        ASSERT_FALSE(store->append("s", fragment_bytes(0, kPayload), metadata_at(0, 0), a));
        ASSERT_FALSE(store->flush());
        failing = true;
        std::promise<std::error_code> b_result;
        ASSERT_FALSE(store->append("s", fragment_bytes(1, kPayload), metadata_at(1, 1), b,
                                   [&](FragmentNumber, std::error_code ec) { b_result.set_value(ec); }));
        EXPECT_EQ(b_result.get_future().get(), make_error_code(Errc::disk_full));
        Fragment f;
        EXPECT_EQ(store->read("s", b, f), make_error_code(Errc::fragment_not_found));
        failing = false;
        ASSERT_FALSE(store->append("s", fragment_bytes(2, kPayload), metadata_at(2, 2), c));
        ASSERT_FALSE(store->flush());
        ASSERT_FALSE(store->read("s", c, f));
        EXPECT_EQ(*f.bytes, fragment_bytes(2, kPayload));
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    Fragment f;
    ASSERT_FALSE(store->read("s", a, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(0, kPayload));
    EXPECT_EQ(store->read("s", b, f), make_error_code(Errc::fragment_not_found));
    ASSERT_FALSE(store->read("s", c, f));
    EXPECT_EQ(*f.bytes, fragment_bytes(2, kPayload));
}

TEST(Recovery, RealDiskFullOnASmallTmpfs) {
    TempDir dir;
    if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=2m") != 0) {
        GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "); the hook test covers it";
    }
    struct Unmount {
        const fs::path& path;
        ~Unmount() { ::umount2(path.c_str(), MNT_DETACH); }
    } unmount{dir.path()};
    // Ballast we delete later to give space back.
    {
        std::ofstream ballast(dir.path() / "ballast", std::ios::binary);
        const std::string block(256 * 1024, 'x');
        ballast << block;
    }
    std::vector<FragmentNumber> committed;
    std::error_code failure;
    {
        auto store = FragmentStore::open(dir.path(), test_options());
        ASSERT_FALSE(store->open_stream("s", 1));
        for (int i = 0; i < 100 && !failure; ++i) {
            FragmentNumber n = 0;
            failure = store->append("s", fragment_bytes(i, 100'000), metadata_at(i, i), n);
            if (!failure) committed.push_back(n);
        }
        ASSERT_EQ(failure, make_error_code(Errc::disk_full));
        ASSERT_FALSE(store->flush());
        ASSERT_GT(committed.size(), 5u);
        for (std::size_t i = 0; i < committed.size(); ++i) {
            Fragment f;
            ASSERT_FALSE(store->read("s", committed[i], f)) << i;
            EXPECT_EQ(*f.bytes, fragment_bytes(i, 100'000));
        }
        fs::remove(dir.path() / "ballast");
        FragmentNumber n = 0;
        ASSERT_FALSE(store->append("s", fragment_bytes(1000, 100'000), metadata_at(1000, 1000), n));
        ASSERT_FALSE(store->flush());
        committed.push_back(n);
    }
    auto store = FragmentStore::open(dir.path(), test_options());
    ASSERT_FALSE(store->open_stream("s", 1));
    for (std::size_t i = 0; i < committed.size(); ++i) {
        Fragment f;
        ASSERT_FALSE(store->read("s", committed[i], f)) << i;
        EXPECT_EQ(*f.bytes, fragment_bytes(i + 1 == committed.size() ? 1000 : i, 100'000));
    }
}

}  // namespace
}  // namespace kinema::storage
