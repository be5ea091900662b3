// kinema-bench-media: MKV reader and writer throughput, next to memcpy of the same bytes in the same run.
//
// The stream is a synthetic 1 s GOP at 30 fps with 40 KB frames (about 10 Mbit/s), 10 s long. The reader
// touches element headers, not payloads, so it should beat memcpy; the writer copies each payload once, so
// it should reach at least half of memcpy. The same stream with a CRC-32 element as every Cluster's first
// child (as ffmpeg and mkvmerge write them) shows what checking them costs the reader. Figures are printed as
// `name: value` lines after Google Benchmark's own table; nothing is asserted on time.
#include <benchmark/benchmark.h>

#include <bit>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <vector>

#include "kinema/media/mkv_reader.h"
#include "kinema/media/mkv_writer.h"

namespace media = kinema::media;

namespace {

constexpr std::size_t kFrameBytes = 40'000;
constexpr int kFrames = 300;
constexpr int kGop = 30;

struct Corpus {
    std::vector<std::vector<std::uint8_t>> payloads;
    media::Bytes stream;            // the MKV the writer produces, for the reader
    media::Bytes stream_with_crcs;  // the same with a CRC-32 at the start of every Cluster
    std::size_t payload_bytes = 0;

    Corpus() {
        std::mt19937 rng(42);
        for (int i = 0; i < kFrames; ++i) {
            std::vector<std::uint8_t> p(kFrameBytes + static_cast<std::size_t>(rng() % 2000));
            for (auto& b : p)
                b = static_cast<std::uint8_t>(rng());
            payload_bytes += p.size();
            payloads.push_back(std::move(p));
        }
        write(stream);
        add_cluster_crcs();
    }

    // Where the reader says each Cluster starts; each one's data runs to the next one (live-style Clusters
    // of unknown size) or to the end.
    void add_cluster_crcs() {
        struct Starts final : media::MkvReaderHandler {
            void on_fragment_begin(std::uint64_t offset, std::int64_t) override { offsets.push_back(offset); }
            std::vector<std::uint64_t> offsets;
        } starts;
        media::MkvReader reader(starts);
        if (reader.feed(stream) || reader.finish() || starts.offsets.empty()) std::abort();
        starts.offsets.push_back(stream.size());
        stream_with_crcs.assign(stream.begin(),
                                stream.begin() + static_cast<std::ptrdiff_t>(starts.offsets[0]));
        for (std::size_t i = 0; i + 1 < starts.offsets.size(); ++i) {
            const std::size_t at = starts.offsets[i];
            const std::size_t end = starts.offsets[i + 1];
            // Cluster id (4 bytes), then the size vint: its length is its first byte's leading zeros + 1.
            const std::size_t header = 4 + static_cast<std::size_t>(std::countl_zero(stream[at + 4])) + 1;
            std::uint32_t crc = 0xFFFFFFFFu;  // bit by bit: setup only, and independent of the reader's
            for (std::size_t j = at + header; j < end; ++j) {
                crc ^= stream[j];
                for (int k = 0; k < 8; ++k)
                    crc = (crc & 1) ? (crc >> 1) ^ 0xEDB88320u : crc >> 1;
            }
            crc = ~crc;
            stream_with_crcs.insert(stream_with_crcs.end(), stream.begin() + static_cast<std::ptrdiff_t>(at),
                                    stream.begin() + static_cast<std::ptrdiff_t>(at + header));
            stream_with_crcs.insert(
                stream_with_crcs.end(),
                {0xBF, 0x84, static_cast<std::uint8_t>(crc), static_cast<std::uint8_t>(crc >> 8),
                 static_cast<std::uint8_t>(crc >> 16), static_cast<std::uint8_t>(crc >> 24)});
            stream_with_crcs.insert(stream_with_crcs.end(),
                                    stream.begin() + static_cast<std::ptrdiff_t>(at + header),
                                    stream.begin() + static_cast<std::ptrdiff_t>(end));
        }
    }

    void write(media::Bytes& out) const {
        media::MkvWriterOptions options;
        media::TrackInfo track;
        track.codec_id = std::string(media::kCodecH264);
        track.pixel_width = 1280;
        track.pixel_height = 720;
        options.header.tracks.push_back(track);
        media::MkvWriter writer(options);
        writer.write_header(out);
        for (int i = 0; i < kFrames; ++i) {
            media::FrameInput f;
            f.pts = media::Timestamp::from_milliseconds(1'700'000'000'000 + i * 33);
            f.key = i % kGop == 0;
            f.payload = payloads[static_cast<std::size_t>(i)];
            if (writer.write_frame(f, out)) std::abort();
        }
    }
};

const Corpus& corpus() {
    static const Corpus c;
    return c;
}

void BM_Memcpy(benchmark::State& state) {
    const auto& c = corpus();
    std::vector<std::uint8_t> dest(c.stream.size());
    for (auto _ : state) {
        std::memcpy(dest.data(), c.stream.data(), c.stream.size());
        benchmark::DoNotOptimize(dest.data());
        benchmark::ClobberMemory();
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.stream.size()));
}
BENCHMARK(BM_Memcpy);

void BM_MkvWrite(benchmark::State& state) {
    const auto& c = corpus();
    media::Bytes out;
    out.reserve(c.stream.size() + 4096);
    for (auto _ : state) {
        out.clear();
        c.write(out);
        benchmark::DoNotOptimize(out.data());
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * c.stream.size()));
}
BENCHMARK(BM_MkvWrite);

class CountingHandler final : public media::MkvReaderHandler {
public:
    void on_frame(const media::Frame& f) override { bytes += f.payload.size(); }
    std::size_t bytes = 0;
};

void read_stream(benchmark::State& state, const media::Bytes& stream) {
    const std::size_t chunk = static_cast<std::size_t>(state.range(0));
    for (auto _ : state) {
        CountingHandler handler;
        media::MkvReader reader(handler);
        for (std::size_t at = 0; at < stream.size(); at += chunk) {
            if (reader.feed({stream.data() + at, std::min(chunk, stream.size() - at)})) std::abort();
        }
        if (reader.finish()) std::abort();
        benchmark::DoNotOptimize(handler.bytes);
    }
    state.SetBytesProcessed(static_cast<std::int64_t>(state.iterations() * stream.size()));
}

void BM_MkvRead(benchmark::State& state) {
    read_stream(state, corpus().stream);
}
// 64 KiB socket-sized chunks, and 1400-byte packet-sized ones where most blocks straddle chunks.
BENCHMARK(BM_MkvRead)->Arg(65536)->Arg(1400);

void BM_MkvReadClusterCrcs(benchmark::State& state) {
    read_stream(state, corpus().stream_with_crcs);
}
BENCHMARK(BM_MkvReadClusterCrcs)->Arg(65536);

// Collects bytes/s per benchmark so the ratios can be printed after the table.
class FigureReporter final : public benchmark::ConsoleReporter {
public:
    void ReportRuns(const std::vector<Run>& runs) override {
        ConsoleReporter::ReportRuns(runs);
        for (const auto& run : runs) {
            auto it = run.counters.find("bytes_per_second");
            if (it != run.counters.end()) mbps[run.benchmark_name()] = it->second.value / 1e6;
        }
    }
    std::map<std::string, double> mbps;
};

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    FigureReporter reporter;
    benchmark::RunSpecifiedBenchmarks(&reporter);
    auto get = [&](const std::string& name) { return reporter.mbps.count(name) ? reporter.mbps[name] : 0.0; };
    double memcpy_mbps = get("BM_Memcpy");
    double write_mbps = get("BM_MkvWrite");
    double read_mbps = get("BM_MkvRead/65536");
    double read_small_mbps = get("BM_MkvRead/1400");
    double read_crc_mbps = get("BM_MkvReadClusterCrcs/65536");
    std::printf("memcpy_mbps: %.0f\n", memcpy_mbps);
    std::printf("writer_mbps: %.0f\n", write_mbps);
    std::printf("reader_mbps_64k_chunks: %.0f\n", read_mbps);
    std::printf("reader_mbps_1400b_chunks: %.0f\n", read_small_mbps);
    std::printf("reader_with_cluster_crcs_mbps_64k_chunks: %.0f\n", read_crc_mbps);
    if (read_mbps > 0) std::printf("reader_with_cluster_crcs_vs_reader: %.2f\n", read_crc_mbps / read_mbps);
    if (memcpy_mbps > 0) {
        std::printf("writer_vs_memcpy: %.2f\n", write_mbps / memcpy_mbps);
        std::printf("reader_vs_memcpy: %.2f\n", read_mbps / memcpy_mbps);
        std::printf("reader_1400b_vs_memcpy: %.2f\n", read_small_mbps / memcpy_mbps);
    }
    benchmark::Shutdown();
    return 0;
}
