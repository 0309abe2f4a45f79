#!/usr/bin/python3
"""A GStreamer RTSP server on loopback that streams one video file (H.264 in MP4), for the RTSP
source test and the soak benches. Prints `READY rtsp://127.0.0.1:PORT/cam` once it serves.

Each session plays the file once and then ends, like a camera that restarts: a client that
reconnects (the daemon's RTSP source does, with its backoff) gets the file again from the start.
A bench that needs an unbroken live stream makes the file as long as its run.

  rtsp_server.py VIDEO PORT
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    video, port = sys.argv[1], sys.argv[2]
    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(f'( filesrc location="{video}" ! qtdemux ! h264parse ! rtph264pay name=pay0 pt=96 config-interval=1 )')
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        sys.exit(f"cannot listen on 127.0.0.1:{port}")
    print(f"READY rtsp://127.0.0.1:{port}/cam", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
