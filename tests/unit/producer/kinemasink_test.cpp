// kinemasink in a real pipeline (videotestsrc ! x264enc ! h264parse ! kinemasink) streaming to the fake
// PutMedia server on loopback: the element registers, negotiates, fragments at key frames, and emits
// fragment-ack for every PERSISTED fragment.
#include <gst/gst.h>
#include <gtest/gtest.h>

#include <atomic>
#include <string>

#include "fake_putmedia_server.h"

namespace kinema::producer {
namespace {

using testing::FakePutMediaServer;

void on_ack(GstElement*, const gchar* type, guint64, gpointer counter) {
    if (std::string(type) == "PERSISTED") ++*static_cast<std::atomic<int>*>(counter);
}

TEST(KinemaSink, StreamsAnEncodedTestPatternAndSignalsAcks) {
    gst_init(nullptr, nullptr);
    ASSERT_TRUE(gst_registry_scan_path(gst_registry_get(), KINEMA_GST_PLUGIN_DIR) ||
                gst_registry_find_feature(gst_registry_get(), "kinemasink", GST_TYPE_ELEMENT_FACTORY));
    GstElementFactory* factory = gst_element_factory_find("kinemasink");
    ASSERT_NE(factory, nullptr);
    gst_object_unref(factory);
    if (GstElementFactory* x264 = gst_element_factory_find("x264enc"))
        gst_object_unref(x264);
    else
        GTEST_SKIP() << "x264enc (gstreamer1.0-plugins-ugly) is not installed";

    FakePutMediaServer server;
    const std::string description =
        "videotestsrc num-buffers=90 ! video/x-raw,format=I420,width=320,height=240,framerate=30/1 ! "
        "x264enc tune=zerolatency key-int-max=30 speed-preset=ultrafast ! h264parse ! "
        "kinemasink name=sink stop-stream-timeout=20 endpoint=" +
        server.endpoint() + " stream-name=cam1";
    GError* error = nullptr;
    GstElement* pipeline = gst_parse_launch(description.c_str(), &error);
    ASSERT_NE(pipeline, nullptr) << (error ? error->message : "");
    std::atomic<int> persisted{0};
    GstElement* sink = gst_bin_get_by_name(GST_BIN(pipeline), "sink");
    g_signal_connect(sink, "fragment-ack", G_CALLBACK(on_ack), &persisted);

    ASSERT_NE(gst_element_set_state(pipeline, GST_STATE_PLAYING), GST_STATE_CHANGE_FAILURE);
    GstBus* bus = gst_element_get_bus(pipeline);
    GstMessage* message = gst_bus_timed_pop_filtered(
        bus, 60 * GST_SECOND, static_cast<GstMessageType>(GST_MESSAGE_EOS | GST_MESSAGE_ERROR));
    ASSERT_NE(message, nullptr) << "no EOS within 60 s";
    EXPECT_EQ(GST_MESSAGE_TYPE(message), GST_MESSAGE_EOS);
    gst_message_unref(message);
    gst_element_set_state(pipeline, GST_STATE_NULL);  // stop(): waits for the last ACKs

    const auto sessions = server.sessions();
    ASSERT_EQ(sessions.size(), 1u);
    EXPECT_TRUE(sessions[0].started_with_ebml_header);
    EXPECT_EQ(sessions[0].stream_name, "cam1");
    EXPECT_EQ(sessions[0].clusters.size(), 3u);  // 90 frames, a key frame every 30
    EXPECT_EQ(persisted.load(), 3);

    gst_object_unref(bus);
    gst_object_unref(sink);
    gst_object_unref(pipeline);
}

}  // namespace
}  // namespace kinema::producer
