// libFuzzer target: arbitrary bytes as a PutMedia producer's MKV stream through PutMediaSession, the server's
// ingest state machine (MKV reader, KVS limits, stream-header normalisation, duplicate check, fragment
// storage, live fan-out), fed the way the transports feed it: into input_space(), in pieces whose sizes come
// from the input's first byte. Checks what a producer and a viewer are promised:
//   - per fragment, BUFFERING before RECEIVED, and RECEIVED numbers never going back;
//   - nothing after an ERROR that ended the session;
//   - every RECEIVED fragment readable from the store and, behind its stored stream header, an MKV stream
//     the reader accepts (what GetMedia and GetMediaForFragmentList serve);
//   - the live viewer's items are well formed (a frame only inside a fragment it saw begin).
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include <kinema/media/mkv_reader.h>
#include <kinema/storage/fragment_store.h>

#include "ack.h"
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

void check(bool condition) {
    if (!condition) std::abort();
}

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

    std::vector<server::Ack> acks;
    server::PutMediaOptions options;
    options.stream = stream;
    options.persisted_acks = false;
    options.max_fragment_bytes = 256 * 1024;  // small, so that the limit is reachable
    options.clock = [] { return media::Timestamp::from_milliseconds(1'700'000'000'000); };
    auto hub = std::make_shared<server::LiveHub>();
    auto viewer = hub->join_now({});
    bool ended_with_error = false;
    {
        // ACKs of retention-0 streams all come from feed()/finish() on this thread (no commit thread).
        server::PutMediaSession session(
            store, options, [&acks](const server::Ack& ack, media::Duration) { acks.push_back(ack); }, hub);
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
    }

    std::map<std::int64_t, bool> buffering;  // timecode -> BUFFERING seen
    std::string last_received;
    for (std::size_t i = 0; i < acks.size(); ++i) {
        const auto& ack = acks[i];
        if (ack.type == server::AckEventType::buffering) buffering[ack.fragment_timecode] = true;
        if (ack.type == server::AckEventType::received) {
            check(buffering.contains(ack.fragment_timecode));
            check(ack.fragment_number.size() == 20 && ack.fragment_number >= last_received);
            last_received = ack.fragment_number;
            const auto number = storage::parse_fragment_number(ack.fragment_number);
            check(number.has_value());
            storage::Fragment fragment;
            if (store.read(stream, *number, fragment)) continue;  // left the memory window since
            std::shared_ptr<const std::vector<std::uint8_t>> header;
            check(!store.get_header(stream, fragment.info.header_id, header));
            Count count;
            media::MkvReader reader(count);
            check(!reader.feed(*header));
            check(!reader.feed(*fragment.bytes));
            check(!reader.finish());
            check(count.fragments == 1);
        }
    }
    // A session the producer's bytes ended says so with its last ACK.
    if (ended_with_error) check(!acks.empty() && acks.back().type == server::AckEventType::error);

    bool open = false;
    for (const auto& item : viewer->take()) {
        if (item.kind == server::LiveItem::Kind::fragment_begin) open = true;
        if (item.kind == server::LiveItem::Kind::frame) check(open && item.block && !item.block->empty());
        if (item.kind == server::LiveItem::Kind::fragment_end) open = false;
    }
    return 0;
}
