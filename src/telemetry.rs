//! Traces (OpenTelemetry). With `OTEL_EXPORTER_OTLP_ENDPOINT` (or `..._TRACES_ENDPOINT`) set, the
//! service's spans go out over OTLP/HTTP (protobuf) in batches, from a thread of their own: each
//! GraphQL operation (joined to the caller's W3C `traceparent`), the group commit's batch (linked to
//! every request it carried), the worker's claim (linked to every message it took), the provider call
//! and the receipt (children of the message's own trace, whose `traceparent` is kept with it), and
//! each reply. Log lines inside those spans carry their `trace_id`.
//!
//! Unset, nothing is exported and the send path pays nothing: no context is read or stored.

use std::sync::atomic::{AtomicBool, Ordering};

use opentelemetry::{
    propagation::TextMapPropagator,
    trace::{TraceContextExt as _, TracerProvider as _},
};
use opentelemetry_sdk::{
    Resource,
    propagation::TraceContextPropagator,
    trace::{Sampler, SdkTracerProvider},
};
use tracing_opentelemetry::OpenTelemetrySpanExt as _;

/// Whether traces are exported in this process (set once, at start).
static ENABLED: AtomicBool = AtomicBool::new(false);

/// Whether spans go anywhere: when false, nothing reads or keeps a trace context.
pub fn enabled() -> bool {
    ENABLED.load(Ordering::Relaxed)
}

/// Which traces are recorded (`OTEL_TRACES_SAMPLER`, `OTEL_TRACES_SAMPLER_ARG`), as the
/// OpenTelemetry specification names them.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum SamplerSetting {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
    /// Follows the caller's decision when a `traceparent` came; else the inner setting.
    ParentBased(ParentRoot),
}

/// A parent-based sampler's choice for a trace that starts here.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ParentRoot {
    AlwaysOn,
    AlwaysOff,
    TraceIdRatio(f64),
}

/// Where traces go, under which name, and how many.
#[derive(Debug, Clone)]
pub struct TelemetryConfig {
    /// The OTLP/HTTP traces URL (`.../v1/traces`); `None`: traces are off.
    pub traces_endpoint: Option<String>,
    /// Headers sent with each export (`OTEL_EXPORTER_OTLP_HEADERS`: a collector's API key).
    pub headers: Vec<(String, secrecy::SecretString)>,
    pub service_name: String,
    pub sampler: SamplerSetting,
}

impl SamplerSetting {
    fn sampler(self) -> Sampler {
        let root = |root: ParentRoot| match root {
            ParentRoot::AlwaysOn => Sampler::AlwaysOn,
            ParentRoot::AlwaysOff => Sampler::AlwaysOff,
            ParentRoot::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
        };
        match self {
            Self::AlwaysOn => Sampler::AlwaysOn,
            Self::AlwaysOff => Sampler::AlwaysOff,
            Self::TraceIdRatio(r) => Sampler::TraceIdRatioBased(r),
            Self::ParentBased(r) => Sampler::ParentBased(Box::new(root(r))),
        }
    }
}

/// The exporter, kept until exit: dropping it (or `shutdown`) sends what is still buffered.
pub struct Exporting {
    provider: SdkTracerProvider,
}

impl Exporting {
    /// Sends the spans still buffered and stops the exporter; from then on nothing is traced.
    pub fn shutdown(self) {
        ENABLED.store(false, Ordering::Relaxed);
        if let Err(error) = self.provider.shutdown() {
            eprintln!("sms-notify: traces: the last spans were not exported: {error}");
        }
    }
}

/// The layer that turns the service's spans into OpenTelemetry spans, for the subscriber `S`, and the
/// exporter behind it; `None` when traces are off.
pub fn layer<S>(
    config: &TelemetryConfig,
) -> anyhow::Result<
    Option<(
        tracing_opentelemetry::OpenTelemetryLayer<S, opentelemetry_sdk::trace::Tracer>,
        Exporting,
    )>,
>
where
    S: tracing::Subscriber + for<'span> tracing_subscriber::registry::LookupSpan<'span>,
{
    use opentelemetry_otlp::{Protocol, WithExportConfig as _, WithHttpConfig as _};
    use secrecy::ExposeSecret as _;
    let Some(endpoint) = &config.traces_endpoint else {
        return Ok(None);
    };
    let headers = config
        .headers
        .iter()
        .map(|(k, v)| (k.clone(), v.expose_secret().to_owned()))
        .collect();
    let exporter = opentelemetry_otlp::SpanExporter::builder()
        .with_http()
        .with_protocol(Protocol::HttpBinary)
        .with_endpoint(endpoint.clone())
        .with_headers(headers)
        .build()?;
    let provider = SdkTracerProvider::builder()
        .with_batch_exporter(exporter)
        .with_sampler(config.sampler.sampler())
        .with_resource(
            Resource::builder()
                .with_service_name(config.service_name.clone())
                .build(),
        )
        .build();
    let tracer = provider.tracer("sms-notify");
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    ENABLED.store(true, Ordering::Relaxed);
    let layer = tracing_opentelemetry::layer()
        .with_tracer(tracer)
        .with_tracked_inactivity(false);
    Ok(Some((layer, Exporting { provider })))
}

/// The W3C `traceparent` of the current span, to keep with a message; `None` when traces are off or
/// the span is not recorded.
pub fn current_traceparent() -> Option<String> {
    if !enabled() {
        return None;
    }
    let context = tracing::Span::current().context();
    let span = context.span();
    let span_context = span.span_context();
    span_context.is_valid().then(|| {
        format!(
            "00-{}-{}-{:02x}",
            span_context.trace_id(),
            span_context.span_id(),
            span_context.trace_flags().to_u8()
        )
    })
}

/// The trace context a `traceparent` (and `tracestate`) names, if it reads as one.
fn extract(traceparent: &str, tracestate: Option<&str>) -> Option<opentelemetry::Context> {
    let mut carrier = std::collections::HashMap::new();
    carrier.insert("traceparent".to_owned(), traceparent.to_owned());
    if let Some(state) = tracestate {
        carrier.insert("tracestate".to_owned(), state.to_owned());
    }
    let context = TraceContextPropagator::new().extract(&carrier);
    context.span().span_context().is_valid().then_some(context)
}

/// Makes `span` a child of the trace `traceparent` names (a message's, a caller's), and records its
/// `trace_id` for the log lines inside it. Nothing when traces are off.
pub fn continue_trace(span: &tracing::Span, traceparent: Option<&str>, tracestate: Option<&str>) {
    if !enabled() {
        return;
    }
    if let Some(context) = traceparent.and_then(|t| extract(t, tracestate)) {
        // Fails only when the span is not recorded (filtered out): then there is nothing to join.
        let _ = span.set_parent(context);
    }
    record_trace_id(span);
}

/// Links `span` to each trace named in `traceparents` (a batch that carries many requests or messages).
pub fn link_all<'a>(span: &tracing::Span, traceparents: impl IntoIterator<Item = &'a str>) {
    if !enabled() {
        return;
    }
    for traceparent in traceparents {
        if let Some(context) = extract(traceparent, None) {
            span.add_link(context.span().span_context().clone());
        }
    }
    record_trace_id(span);
}

/// The trace id a stored `traceparent` names (`00-<trace id>-<span id>-<flags>`), for log lines
/// outside the message's spans.
pub fn trace_id_of(traceparent: Option<&str>) -> Option<&str> {
    traceparent
        .and_then(|t| t.get(3..35))
        .filter(|id| id.bytes().all(|b| b.is_ascii_hexdigit()))
}

/// Records the span's trace id in its `trace_id` field (declared `Empty`), so every log line inside
/// it names the trace.
pub fn record_trace_id(span: &tracing::Span) {
    if !enabled() {
        return;
    }
    let trace_id = span.context().span().span_context().trace_id();
    span.record("trace_id", tracing::field::display(trace_id));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_traceparent_reads_back_as_its_trace() {
        let traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        let context = extract(traceparent, None).expect("a valid traceparent");
        let span = context.span();
        let read = span.span_context();
        assert_eq!(
            read.trace_id().to_string(),
            "4bf92f3577b34da6a3ce929d0e0e4736"
        );
        assert_eq!(read.span_id().to_string(), "00f067aa0ba902b7");
        assert!(read.is_sampled());
        for bad in [
            "",
            "00-00000000000000000000000000000000-00f067aa0ba902b7-01",
            "not a traceparent",
            "00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01",
        ] {
            assert!(extract(bad, None).is_none(), "{bad:?}");
        }
    }

    #[test]
    fn samplers_are_the_specification_s() {
        assert!(matches!(
            SamplerSetting::ParentBased(ParentRoot::AlwaysOn).sampler(),
            Sampler::ParentBased(_)
        ));
        assert!(matches!(
            SamplerSetting::TraceIdRatio(0.25).sampler(),
            Sampler::TraceIdRatioBased(r) if r == 0.25
        ));
    }
}
