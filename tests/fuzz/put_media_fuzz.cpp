// libFuzzer target: arbitrary bytes as a PutMedia producer's MKV stream through PutMediaSession, the server's
// ingest state machine (MKV reader, KVS limits, stream-header normalisation, duplicate check, fragment
// storage, live fan-out), fed the way the transports feed it: into input_space(), in pieces whose sizes come
// from the input's first byte. Checks what a producer and a viewer are promised:
//   - per fragment, BUFFERING before RECEIVED; a RECEIVED number is either new and above every earlier one,
//     or one already RECEIVED (a fragment sent again, acknowledged with its original number);
//   - nothing after an ERROR that ended the session;
//   - every RECEIVED fragment readable from the store, and what GetMedia serves for it (normalised stream
//     header, KVS tags, Cluster) an MKV stream the reader accepts, holding that one fragment;
//   - the live viewer's items are well formed (a frame only inside a fragment it saw begin).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <future>
#include <map>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include <kinema/media/mkv_reader.h>
#include <kinema/storage/fragment_store.h>

#include "ack.h"
#include "get_media_output.h"
#include "live_hub.h"
#include "put_media_session.h"

namespace {

using namespace kinema;

struct Fixture {
    Fixture() {
        dir = std::filesystem::temp_directory_path() / ("kinema-put-media-fuzz-" + std::to_string(getpid()));
        std::filesystem::remove_all(dir);
        storage::StoreOptions options;
        options.commit_max_wait = std::chrono::microseconds(0);
        options.retention_sweep_interval = std::chrono::milliseconds(0);
        store = storage::FragmentStore::open(dir, options);
        if (!store) std::abort();
    }
    ~Fixture() {
        store.reset();
        std::filesystem::remove_all(dir);
    }

    std::filesystem::path dir;
    std::unique_ptr<storage::FragmentStore> store;
};

// A broken promise: say which, then crash (libFuzzer keeps the input).
#define check(condition)                                                                                 \
    do {                                                                                                 \
        if (!(condition)) {                                                                              \
            std::fprintf(stderr, "put_media_fuzz: check failed at line %d: %s\n", __LINE__, #condition); \
            std::abort();                                                                                \
        }                                                                                                \
    } while (false)

// Counts what the reader delivers, to tell a served fragment from an empty or broken one.
struct Count : media::MkvReaderHandler {
    void on_fragment_begin(std::uint64_t, std::int64_t) override { ++fragments; }
    int fragments = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static Fixture fixture;
    if (size < 1) return 0;
    auto& store = *fixture.store;
    const std::string stream = "cam1";
    // Retention 0: fragments live in the store's memory window, so millions of runs leave nothing on disk.
    // The stream is opened afresh for every input: earlier inputs' timecodes do not constrain this one.
    (void)store.delete_stream(stream);
    check(!store.open_stream(stream, 0));

    // The sink may be called from the store's commit thread (a commit error), also after the session is
    // gone: it holds its log, as the server's sink holds its connection.
    struct Log {
        std::mutex mutex;
        std::vector<server::Ack> acks;
    };
    auto log = std::make_shared<Log>();
    server::PutMediaOptions options;
    options.stream = stream;
    options.persisted_acks = false;
    options.max_fragment_bytes = 256 * 1024;  // small, so that the limit is reachable
    options.clock = [] { return media::Timestamp::from_milliseconds(1'700'000'000'000); };
    auto hub = std::make_shared<server::LiveHub>();
    auto viewer = hub->join_now({});
    bool ended_with_error = false;
    {
        server::PutMediaSession session(
            store, options,
            [log](const server::Ack& ack, media::Duration) {
                std::lock_guard lock(log->mutex);
                log->acks.push_back(ack);
            },
            hub);
        std::uint32_t seed = data[0] | 1u;
        std::size_t at = 1;
        while (at < size) {
            seed = seed * 1103515245u + 12345u;
            const std::size_t piece = std::min<std::size_t>(size - at, 1 + (seed >> 16) % 4096);
            const auto space = session.input_space(piece + (seed >> 8) % 64);  // reads may fall short
            std::copy_n(data + at, piece, space.begin());
            at += piece;
            if (session.commit_input(piece) == server::PutMediaSession::State::ended) break;
        }
        session.finish();
        ended_with_error = static_cast<bool>(session.error());
        // Every stored fragment's commit is through before the checks and before the next input deletes the
        // stream. A session that never drains is a bug too: abort rather than hang.
        std::promise<void> drained;
        session.when_acknowledged([&drained] { drained.set_value(); });
        check(drained.get_future().wait_for(std::chrono::seconds(20)) == std::future_status::ready);
    }
    std::vector<server::Ack> acks;
    {
        std::lock_guard lock(log->mutex);
        acks = log->acks;
    }

    server::StreamHeaderCache headers;
    server::GetMediaWriter writer(server::OutputMode::kvs);
    std::map<std::int64_t, bool> buffering;  // timecode -> BUFFERING seen
    std::string last_received;
    std::set<std::string> received;
    for (std::size_t i = 0; i < acks.size(); ++i) {
        const auto& ack = acks[i];
        if (ack.type == server::AckEventType::buffering) buffering[ack.fragment_timecode] = true;
        if (ack.type == server::AckEventType::received) {
            check(buffering.contains(ack.fragment_timecode));
            check(ack.fragment_number.size() == 20);
            check(ack.fragment_number > last_received || received.contains(ack.fragment_number));
            last_received = std::max(last_received, ack.fragment_number);
            received.insert(ack.fragment_number);
            const auto number = storage::parse_fragment_number(ack.fragment_number);
            check(number.has_value());
            storage::Fragment fragment;
            if (store.read(stream, *number, fragment)) continue;  // left the memory window since
            // Exactly the bytes GetMedia sends for it: the stored header normalised, the KVS tags, the
            // Cluster.
            std::shared_ptr<const server::StreamHeader> header;
            check(!headers.get(store, stream, fragment.info.header_id, header));
            std::vector<std::uint8_t> served;
            check(writer.write_fragment(*header, fragment, options.clock(), served));
            Count count;
            media::MkvReader reader(count);
            check(!reader.feed(served));
            check(!reader.finish());
            check(count.fragments == 1);
        }
    }
    // A session the producer's bytes ended says so with its last ACK.
    if (ended_with_error) check(!acks.empty() && acks.back().type == server::AckEventType::error);

    bool open = false;
    for (const auto& item : viewer->take()) {
        if (item.kind == server::LiveItem::Kind::fragment_begin) open = true;
        if (item.kind == server::LiveItem::Kind::frame) check(open && item.memory && !item.block.empty());
        if (item.kind == server::LiveItem::Kind::fragment_end) open = false;
    }
    return 0;
}
