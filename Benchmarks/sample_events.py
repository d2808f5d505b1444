"""Realistic Customer.io event bodies for the benchmarks, and Redis protocol to queue them."""
import json
import os


def event_body(rng, event_id, object_type, metric, person, timestamp):
    """One compact JSON event for `person`, shaped like Customer.io's reporting webhooks."""
    data = {"campaign_id": rng.randrange(1, 400), "action_id": rng.randrange(1, 5000),
            "delivery_id": os.urandom(16).hex(), "customer_id": "u_%d" % person,
            "identifiers": {"id": "u_%d" % person, "email": "person%d@example.com" % person, "cio_id": "c%010d" % person},
            "recipient": "person%d@example.com" % person, "subject": "Your weekly summary is ready"}
    if metric == "clicked":
        data.update(href="https://example.com/pricing?utm_source=newsletter", link_id=rng.randrange(1, 20))
    if metric == "bounced":
        data["failure_message"] = "550 5.1.1 Recipient address rejected"
    return json.dumps({"event_id": event_id, "object_type": object_type, "metric": metric,
                       "timestamp": timestamp, "data": data}, separators=(",", ":"))


def resp_command(*args):
    """One Redis command in RESP, for redis-cli --pipe or a raw socket."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        data = arg if isinstance(arg, bytes) else str(arg).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)
