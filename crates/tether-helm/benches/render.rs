//! In-process renders of large charts from the helm corpus (crates/tether/tests/helm_corpus):
//! `fleet` with 120 tenants (1,331 documents, ~520 KB of YAML) and the `platform` umbrella chart.
//! The template set is parsed once per chart (cached in the `Renderer`); each iteration coalesces
//! values, executes every template and sorts the output.
//!
//! `cargo bench -p tether-helm --bench render`

use std::path::PathBuf;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use tether_helm::{RenderOptions, Renderer, UserValues};

fn chart(name: &str) -> Renderer {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../tether/tests/helm_corpus/charts")
        .join(name);
    Renderer::load(&p).expect("corpus chart")
}

fn bench(c: &mut Criterion) {
    let mut g = c.benchmark_group("helm_render");
    g.sample_size(20);

    let fleet = chart("fleet");
    let user = UserValues {
        set: vec!["tenantCount=120".into()],
        ..Default::default()
    };
    let opts = RenderOptions {
        release_name: "big".into(),
        kube_version: Some("1.19.0".into()),
        ..Default::default()
    };
    let out = fleet.render(&user, &opts).expect("render");
    g.throughput(Throughput::Elements(out.documents.len() as u64));
    g.bench_function("fleet_120_tenants", |b| {
        b.iter(|| fleet.render(&user, &opts).expect("render"))
    });

    let platform = chart("platform");
    let opts = RenderOptions {
        release_name: "acme".into(),
        namespace: "platform".into(),
        ..Default::default()
    };
    let n = platform
        .render(&UserValues::default(), &opts)
        .expect("render")
        .documents
        .len();
    g.throughput(Throughput::Elements(n as u64));
    g.bench_function("platform_umbrella", |b| {
        b.iter(|| {
            platform
                .render(&UserValues::default(), &opts)
                .expect("render")
        })
    });
    g.bench_function("platform_load_and_render", |b| {
        b.iter(|| {
            chart("platform")
                .render(&UserValues::default(), &opts)
                .expect("render")
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
