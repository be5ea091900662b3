#!/usr/bin/env python3
"""PutMedia and GetMedia with outside clients against the real kinema-server binary.

1. curl is the producer: `curl -sN -T clip.mkv -H 'Transfer-Encoding: chunked' ...` streams an MKV that ffmpeg
   made (not Kinema) and prints the ACKs; every fragment must be PERSISTED.
2. ffprobe/ffmpeg read GetMedia's continuous output (fetched over HTTP with curl) and decode every frame.
3. kill -9 of the server during ingest: after a restart every fragment that was PERSISTED is listed and
   GetMediaForFragmentList returns it, decodable, byte for byte as before the crash.
4. The producer SDK's kinema-put (when built) streams the same clip over WebSocket.

Usage: media_curl_ffmpeg_test.py KINEMA_SERVER [KINEMA_PUT]
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

SERVER = sys.argv[1]
KINEMA_PUT = sys.argv[2] if len(sys.argv) > 2 and os.path.exists(sys.argv[2]) else None
FPS = 25
SECONDS = 6


def run(cmd, **kw):
    return subprocess.run(cmd, check=True, capture_output=True, text=True, timeout=120, **kw)


class Server:
    def __init__(self, data_dir):
        self.data_dir = data_dir
        self.proc = None
        self.port = None

    def start(self):
        port_file = os.path.join(self.data_dir, "port")
        if os.path.exists(port_file):
            os.remove(port_file)
        self.proc = subprocess.Popen(
            [SERVER, "--listen", "127.0.0.1:0", "--data-dir", os.path.join(self.data_dir, "data"),
             "--port-file", port_file, "--log-level", "warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if os.path.exists(port_file) and open(port_file).read().strip():
                self.port = int(open(port_file).read().strip())
                return
            if self.proc.poll() is not None:
                raise RuntimeError("kinema-server exited at start")
            time.sleep(0.02)  # polling for a file the server writes, not ordering between threads
        raise RuntimeError("kinema-server did not start")

    def stop(self, sig=signal.SIGTERM):
        self.proc.send_signal(sig)
        self.proc.wait(timeout=20)

    def url(self, path):
        return f"http://127.0.0.1:{self.port}{path}"

    def post(self, op, body):
        req = urllib.request.Request(self.url("/" + op), data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(req, timeout=30) as resp:
            return resp.read()


def make_clip(path, seconds=SECONDS):
    # 1 s GOP, one Cluster per GOP: what a camera pipeline muxing to MKV sends.
    run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"testsrc=size=320x240:rate={FPS}:duration={seconds}",
         "-c:v", "libx264", "-preset", "ultrafast", "-g", str(FPS), "-keyint_min", str(FPS), "-sc_threshold", "0",
         "-pix_fmt", "yuv420p", "-cluster_time_limit", "1000", path])


def curl_put(server, clip, stream, extra=()):
    out = run(["curl", "-sN", "--max-time", "60", *extra, "-T", clip, "-H", "Transfer-Encoding: chunked",
               "-H", f"x-amzn-stream-name: {stream}", "-H", "x-amzn-fragment-timecode-type: ABSOLUTE",
               server.url("/putMedia")])
    return [json.loads(line) for line in out.stdout.splitlines() if line.strip()]


def decoded_frames(path, strict=True):
    out = run(["ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0", "-show_entries",
               "stream=nb_read_frames", "-of", "csv=p=0", path])
    if strict:
        errors = run(["ffmpeg", "-v", "error", "-i", path, "-f", "null", "-"]).stderr.strip()
        assert errors == "", f"ffmpeg decode errors: {errors}"
    return int(out.stdout.strip().split(",")[0])


def check(condition, message):
    if not condition:
        print("FAIL:", message)
        sys.exit(1)
    print("ok:", message)


def main():
    with tempfile.TemporaryDirectory(prefix="kinema-e2e-") as tmp:
        clip = os.path.join(tmp, "clip.mkv")
        make_clip(clip)
        server = Server(tmp)
        server.start()
        try:
            server.post("createStream", {"StreamName": "cam1", "DataRetentionInHours": 24})
            # 1. curl as producer.
            acks = curl_put(server, clip, "cam1")
            buffering = {a["FragmentTimecode"] for a in acks if a["EventType"] == "BUFFERING"}
            persisted = [a for a in acks if a["EventType"] == "PERSISTED"]
            errors = [a for a in acks if a["EventType"] == "ERROR"]
            check(not errors, f"no ERROR ACKs ({errors})")
            check(len(buffering) >= SECONDS - 1, f"{len(buffering)} fragments from ffmpeg's clusters")
            check({a["FragmentTimecode"] for a in persisted} == buffering, "every fragment PERSISTED")
            check(all(isinstance(a["FragmentNumber"], str) for a in persisted), "FragmentNumber is a string")

            # 1b. ffmpeg writes a CRC-32 as each Cluster's first child; the server checks it. One flipped
            # bit in the third Cluster's frames: the two before it are stored, that one gets ERROR 4006.
            with open(clip, "rb") as f:
                data = bytearray(f.read())
            clusters = [m.start() for m in re.finditer(re.escape(b"\x1f\x43\xb6\x75"), bytes(data))]
            check(len(clusters) >= 3, f"{len(clusters)} Clusters in ffmpeg's clip")
            third = clusters[2]
            size_length = 9 - data[third + 4].bit_length()  # EBML vint: leading zero bits + 1
            crc_at = third + 4 + size_length
            check(data[crc_at] == 0xBF and data[crc_at + 1] == 0x84, "ffmpeg's Clusters start with a CRC-32")
            data[crc_at + 6 + 200] ^= 0x10
            corrupt = os.path.join(tmp, "corrupt.mkv")
            with open(corrupt, "wb") as f:
                f.write(data)
            server.post("createStream", {"StreamName": "corrupt", "DataRetentionInHours": 24})
            acks = curl_put(server, corrupt, "corrupt")
            errors = [a for a in acks if a["EventType"] == "ERROR"]
            check(len(errors) == 1 and errors[0].get("ErrorId") == 4006 and errors[0].get("ErrorCode") == "INVALID_MKV_DATA",
                  f"the corrupted Cluster gets ERROR 4006 ({errors})")
            # Their commits may still be in flight when the session ends (after RECEIVED, before PERSISTED).
            deadline = time.monotonic() + 10
            while True:
                listed = json.loads(server.post("listFragments", {"StreamName": "corrupt"}))["Fragments"]
                if len(listed) >= 2 or time.monotonic() > deadline:
                    break
                time.sleep(0.05)
            check(sorted(f["ProducerTimestamp"] for f in listed) == [0, 1], f"the Clusters before it are stored ({listed})")

            # 2. GetMedia continuous, read by ffprobe/ffmpeg. The response stays open for live: curl stops
            # after a few seconds (exit 28) with everything archived in hand.
            out = os.path.join(tmp, "getmedia.mkv")
            body = json.dumps({"StreamName": "cam1", "StartSelector": {"StartSelectorType": "EARLIEST"},
                               "Continuous": True})
            subprocess.run(["curl", "-s", "--max-time", "3", "-X", "POST", "-d", body, "-o", out,
                            server.url("/getMedia")], timeout=30)
            check(decoded_frames(out) == FPS * SECONDS, f"ffmpeg decodes all {FPS * SECONDS} frames of GetMedia")

            # 3. kill -9 during ingest, then every PERSISTED fragment is readable after a restart.
            server.post("createStream", {"StreamName": "crash", "DataRetentionInHours": 24})
            long_clip = os.path.join(tmp, "long.mkv")
            make_clip(long_clip, 30)
            producer = subprocess.Popen(
                ["curl", "-sN", "--limit-rate", "150k", "-T", long_clip, "-H", "Transfer-Encoding: chunked",
                 "-H", "x-amzn-stream-name: crash", "-H", "x-amzn-fragment-timecode-type: ABSOLUTE",
                 server.url("/putMedia")], stdout=subprocess.PIPE, text=True)
            crash_persisted = []
            for line in producer.stdout:
                ack = json.loads(line)
                if ack["EventType"] == "PERSISTED":
                    crash_persisted.append(ack["FragmentNumber"])
                if len(crash_persisted) == 5:
                    break
            before = server.post("getMediaForFragmentList", {"StreamName": "crash", "Fragments": crash_persisted})
            server.stop(signal.SIGKILL)
            producer.kill()
            producer.wait()
            server.start()
            listed = json.loads(server.post("listFragments", {"StreamName": "crash"}))["Fragments"]
            numbers = [f["FragmentNumber"] for f in listed]
            check(all(n in numbers for n in crash_persisted), "every PERSISTED fragment survives kill -9")
            after = server.post("getMediaForFragmentList", {"StreamName": "crash", "Fragments": crash_persisted})
            check(after == before, "GetMediaForFragmentList is byte-identical after the crash")
            path = os.path.join(tmp, "after.mkv")
            with open(path, "wb") as f:
                f.write(after)
            # KVS-shaped output (one MKV per fragment, concatenated): ffmpeg warns about each new Segment
            # but decodes the frames.
            check(decoded_frames(path, strict=False) == 5 * FPS, "the recovered fragments decode")

            # 4. The producer SDK's kinema-put over WebSocket.
            if KINEMA_PUT:
                server.post("createStream", {"StreamName": "sdk", "DataRetentionInHours": 24})
                run([KINEMA_PUT, clip, "--endpoint", f"ws://127.0.0.1:{server.port}", "--stream", "sdk",
                     "--as-fast-as-possible", "--quiet"])
                listed = json.loads(server.post("listFragments", {"StreamName": "sdk"}))["Fragments"]
                check(len(listed) >= SECONDS - 1, f"kinema-put stored {len(listed)} fragments")
            else:
                print("skip: kinema-put not built")
        finally:
            if server.proc and server.proc.poll() is None:
                server.stop()


if __name__ == "__main__":
    main()
