// kinemasink: H.264 access units (stream-format avc or byte-stream, alignment au) to a Kinema / KVS
// PutMedia endpoint through kinema::producer. Properties follow kvssink where they apply. Server errors are
// posted on the bus as element errors; each ACK is emitted as the "fragment-ack" signal
// (ack type name, fragment timecode in ms), from the stream's network thread.
#include <gst/base/gstbasesink.h>
#include <gst/gst.h>

#include <memory>
#include <string>

#include "kinema/producer.h"

namespace kp = kinema::producer;

G_BEGIN_DECLS
#define KINEMA_TYPE_SINK (kinema_sink_get_type())
G_DECLARE_FINAL_TYPE(KinemaSink, kinema_sink, KINEMA, SINK, GstBaseSink)
G_END_DECLS

struct KinemaSinkState {
    kp::StreamConfig config;
    guint stop_timeout_s = 120;
    std::unique_ptr<kp::Producer> producer;
    kp::Stream* stream = nullptr;
    bool have_base = false;
    kp::Timestamp base;  // wall-clock time of buffer PTS 0 (absolute fragment times)
};

struct _KinemaSink {
    GstBaseSink parent;
    KinemaSinkState* state;
};

G_DEFINE_TYPE(KinemaSink, kinema_sink, GST_TYPE_BASE_SINK)

namespace {

enum Property {
    PROP_0,
    PROP_ENDPOINT,
    PROP_STREAM_NAME,
    PROP_RETENTION_PERIOD,
    PROP_FRAGMENT_DURATION,
    PROP_KEY_FRAME_FRAGMENTATION,
    PROP_ABSOLUTE_FRAGMENT_TIMES,
    PROP_BUFFER_DURATION,
    PROP_REPLAY_DURATION,
    PROP_CONNECTION_STALENESS,
    PROP_STORAGE_SIZE,
    PROP_STOP_STREAM_TIMEOUT,
    PROP_STREAM_TAGS,
    PROP_CA_PATH,
};

enum Signal { SIGNAL_FRAGMENT_ACK, SIGNAL_COUNT };
guint signals[SIGNAL_COUNT];

GstStaticPadTemplate sink_template =
    GST_STATIC_PAD_TEMPLATE("sink", GST_PAD_SINK, GST_PAD_ALWAYS,
                            GST_STATIC_CAPS("video/x-h264, stream-format = (string) { avc, byte-stream }, "
                                            "alignment = (string) au"));

using std::chrono::milliseconds;
using std::chrono::seconds;

void set_property(GObject* object, guint id, const GValue* value, GParamSpec* pspec) {
    kp::StreamConfig& c = KINEMA_SINK(object)->state->config;
    switch (id) {
        case PROP_ENDPOINT:
            c.endpoint = g_value_get_string(value) ? g_value_get_string(value) : "";
            break;
        case PROP_STREAM_NAME:
            c.stream_name = g_value_get_string(value) ? g_value_get_string(value) : "";
            break;
        case PROP_RETENTION_PERIOD:
            c.retention_hours = g_value_get_uint(value);
            c.create_if_missing = true;
            break;
        case PROP_FRAGMENT_DURATION:
            c.fragment_duration = milliseconds(g_value_get_uint(value));
            break;
        case PROP_KEY_FRAME_FRAGMENTATION:
            c.key_frame_fragmentation = g_value_get_boolean(value);
            break;
        case PROP_ABSOLUTE_FRAGMENT_TIMES:
            c.absolute_fragment_times = g_value_get_boolean(value);
            break;
        case PROP_BUFFER_DURATION:
            c.buffer_duration = seconds(g_value_get_uint(value));
            break;
        case PROP_REPLAY_DURATION:
            c.replay_duration = seconds(g_value_get_uint(value));
            break;
        case PROP_CONNECTION_STALENESS:
            c.connection_staleness = seconds(g_value_get_uint(value));
            break;
        case PROP_STORAGE_SIZE:
            c.storage_size = std::size_t{g_value_get_uint(value)} * 1024 * 1024;
            break;
        case PROP_STOP_STREAM_TIMEOUT:
            KINEMA_SINK(object)->state->stop_timeout_s = g_value_get_uint(value);
            break;
        case PROP_STREAM_TAGS: {
            c.stream_tags.clear();
            if (const GstStructure* s = gst_value_get_structure(value)) {
                for (gint i = 0; i < gst_structure_n_fields(s); ++i) {
                    const gchar* name = gst_structure_nth_field_name(s, static_cast<guint>(i));
                    if (const gchar* v = gst_structure_get_string(s, name))
                        c.stream_tags.emplace_back(name, v);
                }
            }
            break;
        }
        case PROP_CA_PATH:
            c.ca_path = g_value_get_string(value) ? g_value_get_string(value) : "";
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

void get_property(GObject* object, guint id, GValue* value, GParamSpec* pspec) {
    const KinemaSinkState& st = *KINEMA_SINK(object)->state;
    const kp::StreamConfig& c = st.config;
    const auto count = [](auto d) { return static_cast<guint>(d.count()); };
    switch (id) {
        case PROP_ENDPOINT:
            g_value_set_string(value, c.endpoint.c_str());
            break;
        case PROP_STREAM_NAME:
            g_value_set_string(value, c.stream_name.c_str());
            break;
        case PROP_RETENTION_PERIOD:
            g_value_set_uint(value, c.retention_hours);
            break;
        case PROP_FRAGMENT_DURATION:
            g_value_set_uint(value, count(std::chrono::duration_cast<milliseconds>(c.fragment_duration)));
            break;
        case PROP_KEY_FRAME_FRAGMENTATION:
            g_value_set_boolean(value, c.key_frame_fragmentation);
            break;
        case PROP_ABSOLUTE_FRAGMENT_TIMES:
            g_value_set_boolean(value, c.absolute_fragment_times);
            break;
        case PROP_BUFFER_DURATION:
            g_value_set_uint(value, count(std::chrono::duration_cast<seconds>(c.buffer_duration)));
            break;
        case PROP_REPLAY_DURATION:
            g_value_set_uint(value, count(std::chrono::duration_cast<seconds>(c.replay_duration)));
            break;
        case PROP_CONNECTION_STALENESS:
            g_value_set_uint(value, count(std::chrono::duration_cast<seconds>(c.connection_staleness)));
            break;
        case PROP_STORAGE_SIZE:
            g_value_set_uint(value, static_cast<guint>(c.storage_size / (1024 * 1024)));
            break;
        case PROP_STOP_STREAM_TIMEOUT:
            g_value_set_uint(value, st.stop_timeout_s);
            break;
        case PROP_STREAM_TAGS: {
            GstStructure* s = gst_structure_new_empty("tags");
            for (const auto& [k, v] : c.stream_tags)
                gst_structure_set(s, k.c_str(), G_TYPE_STRING, v.c_str(), nullptr);
            g_value_take_boxed(value, s);
            break;
        }
        case PROP_CA_PATH:
            g_value_set_string(value, c.ca_path.c_str());
            break;
        default:
            G_OBJECT_WARN_INVALID_PROPERTY_ID(object, id, pspec);
    }
}

gboolean set_caps(GstBaseSink* base, GstCaps* caps) {
    KinemaSinkState& st = *KINEMA_SINK(base)->state;
    const GstStructure* s = gst_caps_get_structure(caps, 0);
    const gchar* format = gst_structure_get_string(s, "stream-format");
    if (format != nullptr && std::string(format) == "avc") {
        const GValue* codec_data = gst_structure_get_value(s, "codec_data");
        if (codec_data == nullptr) {
            GST_ELEMENT_ERROR(base, STREAM, FORMAT, ("stream-format avc without codec_data"), (nullptr));
            return FALSE;
        }
        GstMapInfo map;
        GstBuffer* buffer = gst_value_get_buffer(codec_data);
        if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return FALSE;
        st.config.codec_private.assign(map.data, map.data + map.size);
        gst_buffer_unmap(buffer, &map);
    }
    return TRUE;
}

bool open_stream(KinemaSink* self) {
    KinemaSinkState& st = *self->state;
    kp::StreamCallbacks cb;
    cb.on_ack = [self](const kp::FragmentAck& ack) {
        g_signal_emit(self, signals[SIGNAL_FRAGMENT_ACK], 0, kp::to_string(ack.type),
                      static_cast<guint64>(ack.fragment_timecode));
    };
    cb.on_error = [self](const kp::StreamError& e) {
        if (e.code == kp::Errc::server_error)
            GST_ELEMENT_ERROR(self, RESOURCE, WRITE, ("%s", e.message.c_str()),
                              ("KVS error %d %s", e.kvs_error_id, e.kvs_error_name.c_str()));
        else
            GST_ELEMENT_WARNING(self, RESOURCE, WRITE, ("%s", e.message.c_str()), (nullptr));
    };
    cb.on_dropped_fragment = [self](const kp::DroppedFragment& d) {
        GST_ELEMENT_WARNING(self, RESOURCE, WRITE,
                            ("dropped fragment %lld (%s)", static_cast<long long>(d.fragment_timecode),
                             kp::to_string(d.reason)),
                            (nullptr));
    };
    try {
        st.producer = std::make_unique<kp::Producer>();
        st.stream = &st.producer->add_stream(st.config, cb);
    } catch (const std::exception& e) {
        GST_ELEMENT_ERROR(self, RESOURCE, SETTINGS, ("%s", e.what()), (nullptr));
        st.producer.reset();
        return false;
    }
    return true;
}

GstFlowReturn render(GstBaseSink* base, GstBuffer* buffer) {
    KinemaSink* self = KINEMA_SINK(base);
    KinemaSinkState& st = *self->state;
    if (st.stream == nullptr && !open_stream(self)) return GST_FLOW_ERROR;
    GstClockTime pts = GST_BUFFER_PTS_IS_VALID(buffer) ? GST_BUFFER_PTS(buffer) : GST_BUFFER_DTS(buffer);
    if (!GST_CLOCK_TIME_IS_VALID(pts)) pts = 0;
    if (!st.have_base) {
        // Absolute fragment times are wall-clock: buffer time 0 maps to "now" minus the first buffer's PTS.
        st.base = kp::Timestamp::now() - std::chrono::nanoseconds(pts);
        st.have_base = true;
    }
    GstMapInfo map;
    if (!gst_buffer_map(buffer, &map, GST_MAP_READ)) return GST_FLOW_ERROR;
    kp::VideoFrame frame;
    frame.data = std::span<const std::uint8_t>(map.data, map.size);
    frame.pts = st.base + std::chrono::nanoseconds(pts);
    frame.dts = frame.pts;
    frame.key = !GST_BUFFER_FLAG_IS_SET(buffer, GST_BUFFER_FLAG_DELTA_UNIT);
    const std::error_code ec = st.stream->put_frame(frame);
    gst_buffer_unmap(buffer, &map);
    // A dropped frame is not fatal (the stream resumes at the next key frame); say so once in the log.
    if (ec) GST_DEBUG_OBJECT(self, "frame dropped: %s", ec.message().c_str());
    return GST_FLOW_OK;
}

gboolean stop(GstBaseSink* base) {
    KinemaSink* self = KINEMA_SINK(base);
    KinemaSinkState& st = *self->state;
    if (st.stream != nullptr) {
        const kp::StopReport report = st.stream->stop(seconds(st.stop_timeout_s));
        if (!report.all_acknowledged)
            GST_ELEMENT_WARNING(
                self, RESOURCE, WRITE,
                ("%u fragments (%llu frames) were not acknowledged", report.unacknowledged_fragments,
                 static_cast<unsigned long long>(report.unacknowledged_frames)),
                (nullptr));
    }
    st.stream = nullptr;
    st.producer.reset();
    st.have_base = false;
    return TRUE;
}

void finalize(GObject* object) {
    delete KINEMA_SINK(object)->state;
    G_OBJECT_CLASS(kinema_sink_parent_class)->finalize(object);
}

GParamSpec* uint_param(const char* name, const char* blurb, guint max, guint def) {
    return g_param_spec_uint(name, name, blurb, 0, max, def,
                             static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}
GParamSpec* bool_param(const char* name, const char* blurb, gboolean def) {
    return g_param_spec_boolean(name, name, blurb, def,
                                static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}
GParamSpec* string_param(const char* name, const char* blurb) {
    return g_param_spec_string(name, name, blurb, nullptr,
                               static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS));
}

}  // namespace

static void kinema_sink_class_init(KinemaSinkClass* klass) {
    GObjectClass* object_class = G_OBJECT_CLASS(klass);
    object_class->set_property = set_property;
    object_class->get_property = get_property;
    object_class->finalize = finalize;
    const kp::StreamConfig d;
    g_object_class_install_property(object_class, PROP_ENDPOINT,
                                    string_param("endpoint", "ws:// or wss:// URL of the PutMedia server"));
    g_object_class_install_property(object_class, PROP_STREAM_NAME,
                                    string_param("stream-name", "Stream name"));
    g_object_class_install_property(
        object_class, PROP_RETENTION_PERIOD,
        uint_param("retention-period", "Retention in hours; setting it creates the stream if missing", 87600,
                   d.retention_hours));
    g_object_class_install_property(
        object_class, PROP_FRAGMENT_DURATION,
        uint_param("fragment-duration", "Fragment duration in ms", G_MAXUINT, 2000));
    g_object_class_install_property(
        object_class, PROP_KEY_FRAME_FRAGMENTATION,
        bool_param("key-frame-fragmentation", "Start a fragment at every key frame",
                   d.key_frame_fragmentation));
    g_object_class_install_property(
        object_class, PROP_ABSOLUTE_FRAGMENT_TIMES,
        bool_param("absolute-fragment-times", "Absolute (wall-clock) fragment timecodes",
                   d.absolute_fragment_times));
    g_object_class_install_property(
        object_class, PROP_BUFFER_DURATION,
        uint_param("buffer-duration", "Content buffer duration in s", G_MAXUINT, 120));
    g_object_class_install_property(
        object_class, PROP_REPLAY_DURATION,
        uint_param("replay-duration", "Replay window on reconnect in s", G_MAXUINT, 40));
    g_object_class_install_property(object_class, PROP_CONNECTION_STALENESS,
                                    uint_param("connection-staleness", "No-ACK timeout in s", G_MAXUINT, 30));
    g_object_class_install_property(object_class, PROP_STORAGE_SIZE,
                                    uint_param("storage-size", "Content buffer size in MiB", 1u << 20, 128));
    g_object_class_install_property(
        object_class, PROP_STOP_STREAM_TIMEOUT,
        uint_param("stop-stream-timeout", "Seconds to wait for ACKs at EOS", G_MAXUINT, 120));
    g_object_class_install_property(
        object_class, PROP_STREAM_TAGS,
        g_param_spec_boxed("stream-tags", "stream-tags", "Stream tags for CreateStream (string fields)",
                           GST_TYPE_STRUCTURE,
                           static_cast<GParamFlags>(G_PARAM_READWRITE | G_PARAM_STATIC_STRINGS)));
    g_object_class_install_property(object_class, PROP_CA_PATH,
                                    string_param("ca-path", "PEM file of trusted CAs for wss://"));

    signals[SIGNAL_FRAGMENT_ACK] =
        g_signal_new("fragment-ack", G_TYPE_FROM_CLASS(klass), G_SIGNAL_RUN_LAST, 0, nullptr, nullptr,
                     nullptr, G_TYPE_NONE, 2, G_TYPE_STRING, G_TYPE_UINT64);

    GstElementClass* element_class = GST_ELEMENT_CLASS(klass);
    gst_element_class_set_static_metadata(element_class, "Kinema sink", "Sink/Video/Network",
                                          "Streams H.264 to a Kinema / KVS-compatible PutMedia endpoint",
                                          "Kinema");
    gst_element_class_add_static_pad_template(element_class, &sink_template);
    GstBaseSinkClass* base_class = GST_BASE_SINK_CLASS(klass);
    base_class->set_caps = set_caps;
    base_class->render = render;
    base_class->stop = stop;
}

static void kinema_sink_init(KinemaSink* self) {
    self->state = new KinemaSinkState();
    self->state->config.track_name = "kinema_video";
    // A network sink: render as buffers come, never wait on the pipeline clock.
    gst_base_sink_set_sync(GST_BASE_SINK(self), FALSE);
}

static gboolean plugin_init(GstPlugin* plugin) {
    return gst_element_register(plugin, "kinemasink", GST_RANK_NONE, KINEMA_TYPE_SINK);
}

#define PACKAGE "kinema"
GST_PLUGIN_DEFINE(GST_VERSION_MAJOR, GST_VERSION_MINOR, kinema, "Kinema video ingestion", plugin_init,
                  "0.1.0", "LGPL", "kinema", "https://github.com/kinema")
