#!/usr/bin/env python3
"""boto3's unmodified media clients against a real kinema-server: a clip made by ffmpeg is put with curl
(chunked PutMedia), then read back the way a KVS program does, with only the endpoint changed:
`kinesis-video-archived-media` ListFragments and GetMediaForFragmentList (a streamed body, decoded by
ffprobe frame by frame), and `kinesis-video-media` GetMedia (a streamed body with KVS's per-fragment tags).

Usage: boto3_media_test.py /path/to/kinema-server
"""
import datetime
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest
import urllib.request

import boto3
import botocore.config

SERVER = None  # set from argv in main
FRAMES = 75  # 3 s at 25 fps, a key frame every 25: three fragments


def run(command, **kwargs):
    return subprocess.run(command, check=True, capture_output=True, timeout=120, **kwargs)


def count_frames(path):
    out = run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
               "stream=nb_read_frames", "-of", "csv=p=0", path], text=True).stdout
    return int(out.strip())


class Boto3MediaTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="kinema-boto3-media-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINEMA_")}
        cls.proc = subprocess.Popen(
            [SERVER, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(cls.dir, "data"),
             "--log-level", "warn"], stdout=subprocess.PIPE, text=True, env=env)
        line = cls.proc.stdout.readline()  # blocks until the server is listening
        match = re.match(r"kinema-server listening on (http://127\.0\.0\.1:\d+) ", line)
        if not match:
            cls.proc.kill()
            raise RuntimeError("kinema-server did not start: %r" % line)
        cls.endpoint = match.group(1)
        config = botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30)
        credentials = dict(region_name="us-west-2", aws_access_key_id="x", aws_secret_access_key="x",
                           config=config)
        kvs = boto3.client("kinesisvideo", endpoint_url=cls.endpoint, **credentials)
        kvs.create_stream(StreamName="boto-media", DataRetentionInHours=24, MediaType="video/h264")

        # A clip no Kinema code wrote, put as a KVS producer would over chunked HTTP; every fragment is
        # PERSISTED before curl's body ends.
        clip = os.path.join(cls.dir, "clip.mkv")
        run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=size=320x240:rate=25", "-frames:v",
             str(FRAMES), "-c:v", "libx264", "-g", "25", "-bf", "0", "-pix_fmt", "yuv420p", clip])
        acks = run(["curl", "-sN", "--max-time", "60", "-T", clip, "-H", "Transfer-Encoding: chunked",
                    "-H", "x-amzn-stream-name: boto-media", "-H", "x-amzn-fragment-timecode-type: RELATIVE",
                    "-H", "x-amzn-producer-start-timestamp: 1700000000.000", cls.endpoint + "/putMedia"],
                   text=True).stdout
        events = [json.loads(line)["EventType"] for line in acks.splitlines() if line.strip()]
        assert events.count("PERSISTED") == 3, acks

        # Each API's endpoint comes from GetDataEndpoint, as KVS programs do.
        def client(service, api):
            url = kvs.get_data_endpoint(StreamName="boto-media", APIName=api)["DataEndpoint"]
            return boto3.client(service, endpoint_url=url, **credentials)

        cls.archived = client("kinesis-video-archived-media", "LIST_FRAGMENTS")
        cls.media = client("kinesis-video-media", "GET_MEDIA")

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            code = cls.proc.wait(timeout=15)
        finally:
            if cls.proc.poll() is None:
                cls.proc.kill()
            cls.proc.stdout.close()
            shutil.rmtree(cls.dir, ignore_errors=True)
        assert code == 0, "kinema-server exited with %s after SIGTERM" % code

    def list_fragments(self):
        start = datetime.datetime(2023, 11, 14, 22, 13, 19, tzinfo=datetime.timezone.utc)
        fragments = self.archived.list_fragments(
            StreamName="boto-media", MaxResults=100,
            FragmentSelector={"FragmentSelectorType": "PRODUCER_TIMESTAMP",
                              "TimestampRange": {"StartTimestamp": start,
                                                 "EndTimestamp": start + datetime.timedelta(seconds=10)}},
        )["Fragments"]
        return sorted(fragments, key=lambda f: f["ProducerTimestamp"])

    def test_list_fragments_parses_into_kvs_types(self):
        fragments = self.list_fragments()
        self.assertEqual(len(fragments), 3)
        self.assertEqual(fragments[0]["ProducerTimestamp"],
                         datetime.datetime(2023, 11, 14, 22, 13, 20, tzinfo=datetime.timezone.utc))
        for f in fragments:
            self.assertRegex(f["FragmentNumber"], r"^\d+$")
            self.assertGreater(f["FragmentSizeInBytes"], 0)
            self.assertEqual(f["FragmentLengthInMilliseconds"], 1000)
            self.assertIsInstance(f["ServerTimestamp"], datetime.datetime)

    def test_get_media_for_fragment_list_decodes_every_frame(self):
        numbers = [f["FragmentNumber"] for f in self.list_fragments()]
        response = self.archived.get_media_for_fragment_list(StreamName="boto-media", Fragments=numbers)
        self.assertEqual(response["ContentType"], "video/webm")
        body = response["Payload"].read()
        for number in numbers:
            self.assertIn(number.encode(), body)  # AWS_KINESISVIDEO_FRAGMENT_NUMBER tags
        path = os.path.join(self.dir, "list.mkv")
        with open(path, "wb") as out:
            out.write(body)
        self.assertEqual(count_frames(path), FRAMES)

    def connections_accepted(self):
        """kinema_http_connections_total from /metrics (fetched over a connection of its own, counted too)."""
        with urllib.request.urlopen(self.endpoint + "/metrics", timeout=10) as response:
            text = response.read().decode()
        return float(re.search(r"^kinema_http_connections_total (\S+)$", text, re.M).group(1))

    def test_get_media_for_fragment_list_keeps_botocores_connection(self):
        numbers = [f["FragmentNumber"] for f in self.list_fragments()]
        before = self.connections_accepted()
        for _ in range(3):
            body = self.archived.get_media_for_fragment_list(StreamName="boto-media",
                                                             Fragments=numbers)["Payload"].read()
            self.assertIn(numbers[-1].encode(), body)
            self.assertEqual(len(self.list_fragments()), 3)
        # Six calls through botocore's pool: its one connection (new if an earlier test's was dropped), and
        # the /metrics fetch's own. A connection closed after each body would add three more.
        self.assertLessEqual(self.connections_accepted() - before, 2)

    def test_get_media_streams_the_stored_fragments(self):
        fragments = self.list_fragments()
        response = self.media.get_media(StreamName="boto-media",
                                        StartSelector={"StartSelectorType": "EARLIEST"})
        self.assertEqual(response["ContentType"], "video/webm")
        # GetMedia stays open for what the stream receives next, and urllib3's read(n) waits for n bytes:
        # read as many bytes as the stored fragments hold. The output has all of them, each after its tags
        # (fragment number first) and a header, so this much holds every fragment's number.
        payload = response["Payload"]
        total = sum(f["FragmentSizeInBytes"] for f in fragments)
        body = b""
        while len(body) < total:
            chunk = payload.read(total - len(body))
            self.assertTrue(chunk, "GetMedia ended before every stored fragment arrived")
            body += chunk
        payload.close()
        for f in fragments:
            self.assertIn(f["FragmentNumber"].encode(), body)
        self.assertTrue(body.startswith(b"\x1a\x45\xdf\xa3"), body[:8])  # an EBML header first
        self.assertIn(b"AWS_KINESISVIDEO_PRODUCER_TIMESTAMP", body)


def main():
    global SERVER
    if len(sys.argv) < 2:
        print(__doc__, file=sys.stderr)
        return 2
    SERVER = sys.argv.pop(1)
    result = unittest.main(exit=False, verbosity=2).result
    return 0 if result.wasSuccessful() else 1


if __name__ == "__main__":
    sys.exit(main())
