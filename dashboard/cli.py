"""``fer dashboard``: start the Streamlit dashboard on a results root."""

from __future__ import annotations

import argparse
import socket
import subprocess
import sys
from pathlib import Path

APP = Path(__file__).resolve().with_name("app.py")
DEFAULT_PORT = 8501


def register(sub) -> None:
    p = sub.add_parser(
        "dashboard", help="browse results in the Streamlit dashboard (overview, curves, calibration, try it)",
        description="Start the dashboard web app on a results root and print its address. It reads run "
                    "directories (any folder with metrics.json) under --results: no training needed to open it. "
                    "Equivalent to: streamlit run dashboard/app.py -- --results DIR. Stop it with Ctrl+C.",
    )
    p.add_argument("--results", type=Path, default=Path("results"),
                   help="folder searched for run directories (default: results; e.g. runs/ for your own runs)")
    p.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"port to serve on (default {DEFAULT_PORT})")
    p.add_argument("--host", default="localhost",
                   help="address to bind (default localhost: only this machine; 0.0.0.0 exposes it to the network)")
    p.add_argument("--no-browser", action="store_true", help="do not open a browser tab (servers, remote shells)")
    p.set_defaults(func=run_dashboard)


def streamlit_command(args: argparse.Namespace) -> list[str]:
    from dashboard.uploads import MAX_AUDIO_MB, MAX_IMAGE_MB, MAX_VIDEO_MB

    return [
        sys.executable, "-m", "streamlit", "run", str(APP),
        "--server.port", str(args.port),
        "--server.address", args.host,
        "--server.headless", "true" if args.no_browser else "false",
        "--server.maxUploadSize", str(max(MAX_IMAGE_MB, MAX_AUDIO_MB, MAX_VIDEO_MB)),
        "--browser.gatherUsageStats", "false",
        "--client.toolbarMode", "viewer",
        "--", "--results", str(args.results.expanduser().resolve()),
    ]


def port_free(host: str, port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host if host != "localhost" else "127.0.0.1", port))
        except OSError:
            return False
    return True


def run_dashboard(args: argparse.Namespace) -> int:
    from fer_core.errors import UserError

    if not 1 <= args.port <= 65535:
        raise UserError(f"--port {args.port}: not a TCP port (1-65535)")
    if not port_free(args.host, args.port):
        raise UserError(f"port {args.port} on {args.host} is already in use; pass another with --port N")
    root = args.results.expanduser()
    if not root.is_dir():
        print(f"note: {root} does not exist yet; the dashboard will say what to run to produce results",
              file=sys.stderr)
    print(f"dashboard on http://{args.host}:{args.port}  (results: {root}; Ctrl+C to stop)", file=sys.stderr)
    return subprocess.call(streamlit_command(args))
