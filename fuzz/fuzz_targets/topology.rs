//! Arbitrary bytes -> topology text -> parse with the embedded catalogue -> resolve -> render
//! every target (zone perspective, and the host perspective of the first components for
//! host-aware targets). Nothing may panic; a rejection must be a diagnostic.
#![no_main]

use std::cell::RefCell;
use std::sync::OnceLock;

use ctxfw::catalogue::Catalogue;
use ctxfw::diag::SourceFile;
use ctxfw::generate::{self, Options, TARGETS};
use ctxfw::render::Renderer;
use libfuzzer_sys::fuzz_target;

fn renderer() -> &'static Renderer {
    static R: OnceLock<Renderer> = OnceLock::new();
    R.get_or_init(|| Renderer::new(None).expect("embedded templates"))
}

thread_local! {
    // `Loaded` owns its catalogue; it is moved in and back out for each input instead of being
    // cloned (a clone per input would dominate the run time).
    static CATALOGUE: RefCell<Option<Catalogue>> = const { RefCell::new(None) };
}

fn take_catalogue() -> Catalogue {
    CATALOGUE
        .with(|c| c.borrow_mut().take())
        .unwrap_or_else(|| Catalogue::embedded().expect("embedded catalogue"))
}

fn give_back(cat: Catalogue) {
    CATALOGUE.with(|c| *c.borrow_mut() = Some(cat));
}

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let renderer = renderer();
    let cat = take_catalogue();
    let Ok((topology, mut warnings)) =
        ctxfw::topology::parse(SourceFile::new("fuzz.toml", text), &cat)
    else {
        give_back(cat);
        return;
    };
    // The CLI refuses a topology that would resolve to too many flows before resolving it.
    if ctxfw::check_size(&topology, &cat).is_err() {
        give_back(cat);
        return;
    }
    let resolution = ctxfw::resolve::resolve(&topology, &cat);
    warnings.extend(resolution.warnings.iter().cloned());
    let hosts: Vec<String> = topology.components.keys().take(2).cloned().collect();
    let loaded = ctxfw::Loaded {
        catalogue: cat,
        topology,
        resolution,
        warnings,
    };
    let all: Vec<&generate::Target> = TARGETS.iter().collect();
    // A target may refuse a topology with an error (e.g. a value it cannot express); it must
    // not panic.
    let _ = generate::generate(&loaded, renderer, &Options::default(), &all);
    for h in hosts {
        let opts = Options {
            host: Some(h),
            log_drops: true,
            counters: true,
            outbound: true,
        };
        let host_aware: Vec<&generate::Target> =
            TARGETS.iter().filter(|t| t.host_aware || t.name == "windows").collect();
        let _ = generate::generate(&loaded, renderer, &opts, &host_aware);
    }
    // Every flow rendering the CLI offers.
    let _ = ctxfw::render::flows::table(&loaded.resolution);
    let _ = ctxfw::render::flows::csv(&loaded.resolution);
    let _ = ctxfw::render::flows::json_text(&loaded.topology, &loaded.resolution);
    give_back(loaded.catalogue);
});
