#include "av_demuxer.h"

extern "C" {
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/error.h>
}

#include <stdexcept>

namespace kinema::samples {
namespace {

std::string av_error(int code) {
    char text[AV_ERROR_MAX_STRING_SIZE] = {};
    av_strerror(code, text, sizeof text);
    return text;
}

std::int64_t to_ns(std::int64_t ticks, AVRational time_base) {
    return av_rescale_q(ticks, time_base, AVRational{1, 1'000'000'000});
}

}  // namespace

AvDemuxer::AvDemuxer(const std::string& path, double fallback_frame_rate) : path_(path) {
    if (int rc = avformat_open_input(&format_, path.c_str(), nullptr, nullptr); rc < 0)
        throw std::runtime_error("cannot open " + path + ": " + av_error(rc));
    if (int rc = avformat_find_stream_info(format_, nullptr); rc < 0) {
        avformat_close_input(&format_);
        throw std::runtime_error("cannot read " + path + ": " + av_error(rc));
    }
    stream_index_ = av_find_best_stream(format_, AVMEDIA_TYPE_VIDEO, -1, -1, nullptr, 0);
    if (stream_index_ < 0) {
        avformat_close_input(&format_);
        throw std::runtime_error(path + ": no video stream");
    }
    packet_ = av_packet_alloc();
    const AVStream* stream = format_->streams[stream_index_];
    const AVCodecParameters* par = stream->codecpar;
    if (par->extradata_size >= 7 && par->extradata[0] == 1) {
        avcc_.assign(par->extradata, par->extradata + par->extradata_size);
        nal_length_size_ = (avcc_[4] & 0x03) + 1;
        avcc_[4] |= 0x03;  // the packets handed out carry 4-byte lengths
    }
    const AVRational rate = stream->avg_frame_rate.num > 0 ? stream->avg_frame_rate : stream->r_frame_rate;
    frame_rate_ = rate.num > 0 && rate.den > 0 ? av_q2d(rate) : fallback_frame_rate;
    // Raw .h264 has no container timing: libavformat invents 1200 kHz ticks from its default 25 fps.
    if (std::string(format_->iformat->name) == "h264") frame_rate_ = fallback_frame_rate;
    origin_ = stream->start_time != AV_NOPTS_VALUE ? stream->start_time : 0;
}

AvDemuxer::~AvDemuxer() {
    av_packet_free(&packet_);
    avformat_close_input(&format_);
}

std::string AvDemuxer::codec_name() const {
    return avcodec_get_name(format_->streams[stream_index_]->codecpar->codec_id);
}

std::string AvDemuxer::format_name() const {
    return format_->iformat->name;
}

int AvDemuxer::width() const {
    return format_->streams[stream_index_]->codecpar->width;
}

int AvDemuxer::height() const {
    return format_->streams[stream_index_]->codecpar->height;
}

double AvDemuxer::frame_rate() const {
    return frame_rate_;
}

bool AvDemuxer::next(DemuxedFrame& frame) {
    for (;;) {
        av_packet_unref(packet_);
        const int rc = av_read_frame(format_, packet_);
        if (rc == AVERROR_EOF) return false;
        if (rc < 0) throw std::runtime_error("cannot read " + path_ + ": " + av_error(rc));
        if (packet_->stream_index == stream_index_ && packet_->size > 0) break;
    }
    const AVStream* stream = format_->streams[stream_index_];
    const bool raw = std::string(format_->iformat->name) == "h264";
    if (raw || (packet_->pts == AV_NOPTS_VALUE && packet_->dts == AV_NOPTS_VALUE)) {
        // No usable timing: one frame every 1/frame_rate, in decode order.
        frame.dts_ns = static_cast<std::int64_t>(static_cast<double>(index_) * 1e9 / frame_rate_);
        frame.pts_ns = frame.dts_ns;
    } else {
        const std::int64_t dts = packet_->dts != AV_NOPTS_VALUE ? packet_->dts : packet_->pts;
        const std::int64_t pts = packet_->pts != AV_NOPTS_VALUE ? packet_->pts : packet_->dts;
        frame.dts_ns = to_ns(dts - origin_, stream->time_base);
        frame.pts_ns = to_ns(pts - origin_, stream->time_base);
    }
    ++index_;
    frame.key = (packet_->flags & AV_PKT_FLAG_KEY) != 0;
    const std::span<const std::uint8_t> data(packet_->data, static_cast<std::size_t>(packet_->size));
    if (avcc_.empty() || nal_length_size_ == 4) {
        frame.data = data;
        return true;
    }
    // AVCC with 1-, 2- or 3-byte lengths: the SDK takes 4-byte lengths, as KVS and most encoders use.
    rewritten_.clear();
    std::size_t p = 0;
    while (p + static_cast<std::size_t>(nal_length_size_) <= data.size()) {
        std::size_t length = 0;
        for (int i = 0; i < nal_length_size_; ++i)
            length = (length << 8) | data[p++];
        if (length > data.size() - p) throw std::runtime_error(path_ + ": truncated NAL unit in a packet");
        for (int shift = 24; shift >= 0; shift -= 8)
            rewritten_.push_back(static_cast<std::uint8_t>(length >> shift));
        rewritten_.insert(rewritten_.end(), data.begin() + static_cast<std::ptrdiff_t>(p),
                          data.begin() + static_cast<std::ptrdiff_t>(p + length));
        p += length;
    }
    frame.data = rewritten_;
    return true;
}

}  // namespace kinema::samples
