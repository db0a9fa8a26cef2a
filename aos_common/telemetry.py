"""OpenTelemetry tracing, configured from the standard OTEL_* variables.

`OTEL_TRACES_EXPORTER` = `otlp` (the default when `OTEL_EXPORTER_OTLP_ENDPOINT`
or `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` is set), `console` or `none`.
`OTEL_EXPORTER_OTLP_PROTOCOL` picks gRPC (default) or `http/protobuf`.
Trace context crosses every gRPC hop through the instrumentation interceptors.
"""

from __future__ import annotations

import os

from opentelemetry import trace
from opentelemetry.sdk.resources import SERVICE_NAME, Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from opentelemetry.sdk.trace.sampling import ALWAYS_OFF

_configured: TracerProvider | None = None


def _exporter_from_env() -> SpanExporter | None:
    endpoint = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT") or os.environ.get(
        "OTEL_EXPORTER_OTLP_ENDPOINT"
    )
    choice = os.environ.get("OTEL_TRACES_EXPORTER", "otlp" if endpoint else "none").lower()
    if choice == "none":
        return None
    if choice == "console":
        return ConsoleSpanExporter()
    protocol = os.environ.get("OTEL_EXPORTER_OTLP_TRACES_PROTOCOL") or os.environ.get(
        "OTEL_EXPORTER_OTLP_PROTOCOL", "grpc"
    )
    if protocol.startswith("http"):
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter as HttpExporter

        return HttpExporter()
    from opentelemetry.exporter.otlp.proto.grpc.trace_exporter import OTLPSpanExporter as GrpcExporter

    return GrpcExporter()


def setup_tracing(service_name: str) -> TracerProvider:
    """Install the process's tracer provider once; later calls return it."""
    global _configured
    if _configured is not None:
        return _configured
    name = os.environ.get("OTEL_SERVICE_NAME", service_name)
    exporter = _exporter_from_env()
    # With nowhere to send spans, record none: building them was a measurable share
    # of every service's CPU per call (docs/PERFORMANCE.md). Trace context still
    # crosses every hop, so logs and callers keep their trace ids.
    sampler = None if exporter is not None else ALWAYS_OFF
    provider = TracerProvider(resource=Resource.create({SERVICE_NAME: name}), sampler=sampler)
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter, schedule_delay_millis=200))
    trace.set_tracer_provider(provider)
    _configured = provider
    return provider


def shutdown_tracing() -> None:
    if _configured is not None:
        _configured.shutdown()


def tracer(name: str) -> trace.Tracer:
    return trace.get_tracer(name)
