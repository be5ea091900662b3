// The smallest useful producer: pushes 10 s of synthetic H.264 access units (30 fps, a key frame every
// second) to a Kinema (or KVS-compatible) endpoint, then stops and says what was not acknowledged.
//   kinema-minimal-producer ws://127.0.0.1:8080 cam1
// The frames are well-formed Annex-B but not decodable pictures; swap in your encoder's output.
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "kinema/producer.h"

namespace kp = kinema::producer;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: %s ENDPOINT STREAM_NAME\n", argv[0]);
        return 2;
    }
    kp::StreamConfig config;
    config.endpoint = argv[1];
    config.stream_name = argv[2];
    config.create_if_missing = true;
    kp::StreamCallbacks callbacks;
    callbacks.on_ack = [](const kp::FragmentAck& ack) {
        std::printf("%s %lld\n", kp::to_string(ack.type), static_cast<long long>(ack.fragment_timecode));
    };
    callbacks.on_error = [](const kp::StreamError& e) {
        std::fprintf(stderr, "error: %s\n", e.message.c_str());
    };

    kp::Producer producer;
    kp::Stream& stream = producer.add_stream(config, callbacks);
    // SPS (1280x720 High) and PPS, sent in-band before every key frame, as most encoders do.
    const std::vector<std::uint8_t> sps_pps = {0,    0,    0,    1,    0x67, 0x64, 0x00, 0x1f, 0xac, 0xd9,
                                               0x40, 0x50, 0x05, 0xbb, 0x01, 0x10, 0x00, 0x00, 0x03, 0x00,
                                               0x10, 0x00, 0x00, 0x03, 0x03, 0xc0, 0xf1, 0x83, 0x19, 0x60,
                                               0,    0,    0,    1,    0x68, 0xeb, 0xe3, 0xcb, 0x22, 0xc0};
    const auto start = kp::Timestamp::now();
    for (int i = 0; i < 300; ++i) {
        const bool key = i % 30 == 0;
        std::vector<std::uint8_t> frame = key ? sps_pps : std::vector<std::uint8_t>{};
        frame.insert(frame.end(), {0, 0, 0, 1, static_cast<std::uint8_t>(key ? 0x65 : 0x41)});
        frame.resize(frame.size() + 10'000, 0xAB);  // stands in for the slice data
        kp::VideoFrame f;
        f.data = frame;
        f.pts = start + std::chrono::milliseconds(i * 1000 / 30);
        f.dts = f.pts;
        f.key = key;
        if (auto ec = stream.put_frame(f))
            std::fprintf(stderr, "frame %d dropped: %s\n", i, ec.message().c_str());
        std::this_thread::sleep_for(std::chrono::milliseconds(33));  // a camera's pace
    }
    const kp::StopReport report = stream.stop(std::chrono::seconds(5));
    std::printf("sent %llu bytes; %u fragments not acknowledged\n",
                static_cast<unsigned long long>(stream.metrics().bytes_sent),
                report.unacknowledged_fragments);
    return report.all_acknowledged ? 0 : 1;
}
