"""`python -m delegates.sign KEYFILE`: sign, on the delegate's own device, an act the council
page prepared. It reads the unsigned act (JSON) on standard input and the private key from
KEYFILE (the base64url text the node showed once), and prints the signed act to paste back.

The key is read from a file, never from the command line, so it stays out of the shell's
history; nothing here talks to any node.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

from delegates import client, documents
from federation import signing
from node.errors import Problem


def sign_prepared(unsigned_text: str, private_text: str) -> str:
    """The prepared act, checked for its form and signed with the delegate's key, as JSON."""
    act = json.loads(unsigned_text)
    if not isinstance(act, dict) or act.get("kind") != "act":
        raise ValueError("this is not an act prepared by the council page")
    act.pop(signing.SIG_FIELD, None)
    signed = signing.sign(act, client.load_key(private_text.strip()))
    documents.parse(documents.ActDoc, signed, "act")
    return json.dumps(signed, ensure_ascii=False)


def main(argv: list[str] | None = None) -> int:
    """Sign standard input with the key in the file named by the one argument."""
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1:
        print("usage: python -m delegates.sign KEYFILE < act.json", file=sys.stderr)
        return 2
    try:
        print(sign_prepared(sys.stdin.read(), Path(args[0]).read_text(encoding="utf-8")))
    except (OSError, ValueError, Problem) as exc:
        print(f"not signed: {exc}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
