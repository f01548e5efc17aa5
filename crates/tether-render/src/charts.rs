//! `helmCharts` in kustomizations whose chart is not vendored: pulled from the chart repository
//! named by `repo` through `tether-chartrepo` (index.yaml, Masterminds constraints, digest
//! check, cache), as kustomize runs `helm pull --repo REPO NAME --version VERSION`.

use std::path::PathBuf;
use tether_chartrepo::helm::HelmFetcher;
use tether_kustomize::ChartPuller;

/// A [`ChartPuller`] on a [`HelmFetcher`] and its chart cache.
#[derive(Debug)]
pub struct HelmChartPuller {
    fetcher: HelmFetcher,
}

impl HelmChartPuller {
    /// Pulls through `fetcher` (its cache directory, credentials and repositories).
    pub fn new(fetcher: HelmFetcher) -> Self {
        HelmChartPuller { fetcher }
    }
}

impl ChartPuller for HelmChartPuller {
    fn pull(&self, repo: &str, name: &str, version: &str) -> Result<PathBuf, String> {
        self.fetcher
            .pull(repo, name, version)
            .map_err(|e| e.to_string())
    }
}
