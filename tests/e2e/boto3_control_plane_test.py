#!/usr/bin/env python3
"""boto3's unmodified `kinesisvideo` client against a real kinema-server: every control-plane operation and
the modelled exceptions boto3 raises for its errors.

Usage: boto3_control_plane_test.py /path/to/kinema-server
"""
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import unittest

import boto3
import botocore.config

SERVER = None  # set from argv in main


class Boto3ControlPlaneTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.data_dir = tempfile.mkdtemp(prefix="kinema-boto3-")
        env = {k: v for k, v in os.environ.items() if not k.startswith("KINEMA_")}
        cls.proc = subprocess.Popen(
            [SERVER, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(cls.data_dir, "data"),
             "--region", "us-west-2", "--account", "123456789012", "--log-level", "warn"],
            stdout=subprocess.PIPE, text=True, env=env)
        line = cls.proc.stdout.readline()  # blocks until the server is listening
        match = re.match(r"kinema-server listening on (http://127\.0\.0\.1:\d+) ", line)
        if not match:
            cls.proc.kill()
            raise RuntimeError("kinema-server did not start: %r" % line)
        cls.endpoint = match.group(1)
        cls.kvs = boto3.client(
            "kinesisvideo", endpoint_url=cls.endpoint, region_name="us-west-2",
            aws_access_key_id="x", aws_secret_access_key="x",
            config=botocore.config.Config(retries={"max_attempts": 1}, connect_timeout=10, read_timeout=30))

    @classmethod
    def tearDownClass(cls):
        cls.proc.send_signal(signal.SIGTERM)
        try:
            code = cls.proc.wait(timeout=15)
        finally:
            if cls.proc.poll() is None:
                cls.proc.kill()
            shutil.rmtree(cls.data_dir, ignore_errors=True)
        assert code == 0, "kinema-server exited with %s after SIGTERM" % code

    def version(self, name):
        return self.kvs.describe_stream(StreamName=name)["StreamInfo"]["Version"]

    def test_create_describe_update_delete(self):
        arn = self.kvs.create_stream(StreamName="boto-cam", DataRetentionInHours=24, MediaType="video/h264",
                                     DeviceName="porch-camera", Tags={"site": "home"})["StreamARN"]
        self.assertTrue(arn.startswith("arn:aws:kinesisvideo:us-west-2:123456789012:stream/boto-cam/"), arn)

        info = self.kvs.describe_stream(StreamARN=arn)["StreamInfo"]
        self.assertEqual(info["StreamName"], "boto-cam")
        self.assertEqual(info["Status"], "ACTIVE")
        self.assertEqual(info["MediaType"], "video/h264")
        self.assertEqual(info["DeviceName"], "porch-camera")
        self.assertEqual(info["DataRetentionInHours"], 24)
        # botocore parsed CreationTime into a datetime, matching the ARN's milliseconds.
        millis = int(arn.rsplit("/", 1)[1])
        self.assertAlmostEqual(info["CreationTime"].timestamp(), millis / 1000.0, delta=0.002)

        self.kvs.update_stream(StreamName="boto-cam", CurrentVersion=info["Version"], MediaType="video/h265")
        after = self.kvs.describe_stream(StreamName="boto-cam")["StreamInfo"]
        self.assertEqual(after["MediaType"], "video/h265")
        self.assertNotEqual(after["Version"], info["Version"])

        with self.assertRaises(self.kvs.exceptions.VersionMismatchException):
            self.kvs.update_stream(StreamName="boto-cam", CurrentVersion=info["Version"], DeviceName="x")

        self.kvs.update_data_retention(StreamName="boto-cam", CurrentVersion=self.version("boto-cam"),
                                       Operation="INCREASE_DATA_RETENTION", DataRetentionChangeInHours=48)
        self.assertEqual(self.kvs.describe_stream(StreamName="boto-cam")["StreamInfo"]["DataRetentionInHours"], 72)
        self.kvs.update_data_retention(StreamARN=arn, CurrentVersion=self.version("boto-cam"),
                                       Operation="DECREASE_DATA_RETENTION", DataRetentionChangeInHours=70)
        self.assertEqual(self.kvs.describe_stream(StreamName="boto-cam")["StreamInfo"]["DataRetentionInHours"], 2)
        with self.assertRaises(self.kvs.exceptions.InvalidArgumentException):
            self.kvs.update_data_retention(StreamARN=arn, CurrentVersion=self.version("boto-cam"),
                                           Operation="DECREASE_DATA_RETENTION", DataRetentionChangeInHours=3)

        with self.assertRaises(self.kvs.exceptions.VersionMismatchException):
            self.kvs.delete_stream(StreamARN=arn, CurrentVersion="stale")
        self.kvs.delete_stream(StreamARN=arn, CurrentVersion=self.version("boto-cam"))
        with self.assertRaises(self.kvs.exceptions.ResourceNotFoundException) as caught:
            self.kvs.describe_stream(StreamName="boto-cam")
        self.assertEqual(caught.exception.response["Error"]["Code"], "ResourceNotFoundException")
        self.assertEqual(caught.exception.response["ResponseMetadata"]["HTTPStatusCode"], 404)
        self.assertIn("boto-cam", caught.exception.response["Error"]["Message"])

    def test_errors_raise_modelled_exceptions(self):
        self.kvs.create_stream(StreamName="boto-dup")
        with self.assertRaises(self.kvs.exceptions.ResourceInUseException):
            self.kvs.create_stream(StreamName="boto-dup")
        with self.assertRaises(self.kvs.exceptions.InvalidArgumentException):
            self.kvs.create_stream(StreamName="not/valid")
        with self.assertRaises(self.kvs.exceptions.ResourceNotFoundException):
            self.kvs.get_data_endpoint(StreamName="boto-missing", APIName="GET_MEDIA")
        with self.assertRaises(self.kvs.exceptions.ResourceNotFoundException):
            self.kvs.delete_stream(StreamARN="arn:aws:kinesisvideo:us-west-2:123456789012:stream/boto-missing/1")
        with self.assertRaises(self.kvs.exceptions.TagsPerResourceExceededLimitException):
            self.kvs.tag_stream(StreamName="boto-dup", Tags={"k%d" % i: "v" for i in range(51)})

    def test_list_streams_with_paging(self):
        names = ["boto-list-%02d" % i for i in range(12)]
        for name in names:
            self.kvs.create_stream(StreamName=name)
        condition = {"ComparisonOperator": "BEGINS_WITH", "ComparisonValue": "boto-list-"}
        seen, pages, token = [], 0, None
        while True:
            kwargs = {"MaxResults": 5, "StreamNameCondition": condition}
            if token:
                kwargs["NextToken"] = token
            page = self.kvs.list_streams(**kwargs)
            pages += 1
            self.assertLessEqual(len(page["StreamInfoList"]), 5)
            seen += [s["StreamName"] for s in page["StreamInfoList"]]
            token = page.get("NextToken")
            if not token:
                break
        self.assertEqual(pages, 3)
        self.assertEqual(seen, names)
        # boto3's own paginator follows NextToken the same way.
        paginated = [s["StreamName"]
                     for p in self.kvs.get_paginator("list_streams").paginate(
                         StreamNameCondition=condition, PaginationConfig={"PageSize": 4})
                     for s in p["StreamInfoList"]]
        self.assertEqual(paginated, names)

    def test_tags(self):
        arn = self.kvs.create_stream(StreamName="boto-tags", Tags={"a": "1"})["StreamARN"]
        self.kvs.tag_stream(StreamARN=arn, Tags={"b": "2", "a": "3"})
        self.assertEqual(self.kvs.list_tags_for_stream(StreamName="boto-tags")["Tags"], {"a": "3", "b": "2"})
        self.kvs.untag_stream(StreamName="boto-tags", TagKeyList=["a"])
        self.assertEqual(self.kvs.list_tags_for_stream(StreamARN=arn)["Tags"], {"b": "2"})

    def test_get_data_endpoint(self):
        self.kvs.create_stream(StreamName="boto-endpoint")
        for api in ["PUT_MEDIA", "GET_MEDIA", "LIST_FRAGMENTS", "GET_MEDIA_FOR_FRAGMENT_LIST",
                    "GET_HLS_STREAMING_SESSION_URL", "GET_CLIP", "GET_IMAGES"]:
            endpoint = self.kvs.get_data_endpoint(StreamName="boto-endpoint", APIName=api)["DataEndpoint"]
            self.assertEqual(endpoint, self.endpoint, api)


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
