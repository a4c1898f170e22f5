"""An independent check of seatsync's outbound signatures: the Standard
Webhooks reference library (PyPI `standardwebhooks`) verifies each delivery.

Input on stdin: a JSON array of {"id", "timestamp", "signature", "body"}, as
the fake receiver recorded them. Argument: the whsec_ secret. Prints one line
per delivery and exits non-zero if any fails.
"""
import json
import sys

from standardwebhooks.webhooks import Webhook

secret = sys.argv[1]
deliveries = json.load(sys.stdin)
verifier = Webhook(secret)
failed = 0
for d in deliveries:
    headers = {
        "webhook-id": d["id"],
        "webhook-timestamp": d["timestamp"],
        "webhook-signature": d["signature"],
    }
    try:
        payload = verifier.verify(d["body"], headers)
        print(f"ok {d['id']} sequence={payload['data']['sequence']}")
    except Exception as err:  # the library raises its own WebhookVerificationError
        failed += 1
        print(f"FAILED {d['id']}: {err}")
sys.exit(1 if failed else 0)
