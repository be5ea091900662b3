// libFuzzer target: arbitrary bytes as the frames a PutMedia producer sends after the WebSocket handshake,
// through WebSocketFrameReader. The first byte picks how the rest is cut into reads. Checks that the cut
// changes nothing: the data delivered, whether and why decoding failed, the close code and the ping to
// answer are the same as when the whole input arrives in one read (and AddressSanitizer checks that
// decoding in place stays inside each read's buffer).
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <vector>

#include "websocket_frame_reader.h"

namespace {

using kinema::server::WebSocketFrameReader;

struct Outcome {
    std::vector<std::uint8_t> data;
    bool failed = false;
    int error_code = 0;
    bool closed = false;
    int close_code = 0;
    std::string ping;  // the latest ping, "" when none
    bool ping_pending = false;
};

Outcome decode(const std::uint8_t* bytes, std::size_t size, std::size_t piece) {
    WebSocketFrameReader reader(1u << 16);  // small, so that "too big" is reachable
    Outcome out;
    for (std::size_t at = 0; at < size;) {
        const std::size_t n = std::min(piece, size - at);
        std::vector<std::uint8_t> read(bytes + at, bytes + at + n);  // a buffer of its own, as a socket read
        const std::size_t data = reader.decode(read);
        if (data > n) std::abort();
        out.data.insert(out.data.end(), read.begin(), read.begin() + static_cast<std::ptrdiff_t>(data));
        if (reader.ping_pending()) {
            out.ping = reader.take_ping();
            out.ping_pending = true;
        }
        at += n;
        piece = piece * 3 % 61 + 1;  // the pieces vary along the input
    }
    out.failed = reader.failed();
    out.error_code = static_cast<int>(reader.error_close_code());
    out.closed = reader.closed();
    out.close_code = reader.close_code();
    if (out.failed && out.closed) std::abort();  // one ending or the other
    return out;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    const std::size_t first_piece = 1 + data[0] % 61;
    const Outcome whole = decode(data + 1, size - 1, size);
    const Outcome cut = decode(data + 1, size - 1, first_piece);
    if (whole.data != cut.data || whole.failed != cut.failed || whole.closed != cut.closed) std::abort();
    if (whole.failed && whole.error_code != cut.error_code) std::abort();
    if (whole.closed && whole.close_code != cut.close_code) std::abort();
    // Pings: in one read only the latest is kept; cut into reads, the latest is the one taken last.
    if (whole.ping_pending != cut.ping_pending || whole.ping != cut.ping) std::abort();
    return 0;
}
