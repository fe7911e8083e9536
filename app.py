"""Serve the web chat on the documents in seeds/:
`python app.py [--host H] [--port P] [--password PW] [--no-auth]`."""

import argparse
import sys

from assistant.errors import AssistantError
from assistant.web import launch

if __name__ == "__main__":
    parser = argparse.ArgumentParser(description="Serve the assistant's web chat.")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1: this machine only)")
    parser.add_argument("--port", type=int, default=7860, help="port (default 7860)")
    parser.add_argument("--password", default=None, help="require this password (default: $ASSISTANT_PASSWORD)")
    parser.add_argument("--no-auth", action="store_true",
                        help="serve on a non-loopback --host without a password (anyone who reaches it reads your documents)")
    args = parser.parse_args()
    try:
        launch(args.host, args.port, password=args.password, no_auth=args.no_auth)
    except AssistantError as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
