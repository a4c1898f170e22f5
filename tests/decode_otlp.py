"""An independent reading of what seatsync exports: OpenTelemetry's own
protobuf definitions (PyPI `opentelemetry-proto`) decode each OTLP/HTTP body.

Input on stdin: a JSON array of base64 request bodies (ExportTraceServiceRequest),
as the in-test collector received them. Output: a JSON array of spans with
hex ids, name, parent, attributes (as strings) and links, plus the resource's
service.name.
"""
import base64
import json
import sys

from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest


def value(v):
    kind = v.WhichOneof("value")
    return str(getattr(v, kind)) if kind else ""


spans = []
for body in json.load(sys.stdin):
    request = ExportTraceServiceRequest()
    request.ParseFromString(base64.b64decode(body))
    for resource_spans in request.resource_spans:
        resource = {a.key: value(a.value) for a in resource_spans.resource.attributes}
        for scope_spans in resource_spans.scope_spans:
            for span in scope_spans.spans:
                spans.append({
                    "service": resource.get("service.name", ""),
                    "trace_id": span.trace_id.hex(),
                    "span_id": span.span_id.hex(),
                    "parent_span_id": span.parent_span_id.hex(),
                    "name": span.name,
                    "attributes": {a.key: value(a.value) for a in span.attributes},
                    "links": [{"trace_id": l.trace_id.hex(), "span_id": l.span_id.hex()} for l in span.links],
                })
json.dump(spans, sys.stdout)
