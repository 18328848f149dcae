//! The plain-Rust half of the `ann` index access method (src/index): the metric, k-means,
//! list assignment and probe order, reservoir sampling. Nothing here touches Postgres, so
//! all of it is unit-tested with `cargo test`.
//!
//! Distances are the exact values of the SQL operators (`engine::distance`, in f64), so an
//! index scan orders rows exactly as the exact scan `ORDER BY col <=> q` does.
pub mod kmeans;
pub mod lists;
pub mod nearest;
pub mod quantizer;

use crate::engine::distance;

/// Which operator an index (its operator class) orders by.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Metric {
    /// `<->`, Euclidean distance
    L2,
    /// `<#>`, negative inner product
    InnerProduct,
    /// `<=>`, cosine distance
    Cosine,
}

impl Metric {
    /// The metric of an operator-class strategy number: 1 `<->`, 2 `<#>`, 3 `<=>` (the
    /// pg_catalog operators) and 4, 5, 6 for the same operators in the extension schema.
    pub fn from_strategy(strategy: u16) -> Option<Metric> {
        match strategy {
            1 | 4 => Some(Metric::L2),
            2 | 5 => Some(Metric::InnerProduct),
            3 | 6 => Some(Metric::Cosine),
            _ => None,
        }
    }

    /// Stable code stored on the index's meta page.
    pub fn code(self) -> u32 {
        match self {
            Metric::L2 => 1,
            Metric::InnerProduct => 2,
            Metric::Cosine => 3,
        }
    }

    pub fn from_code(code: u32) -> Option<Metric> {
        Metric::from_strategy(code as u16).filter(|_| (1..=3).contains(&code))
    }

    /// The distance the SQL operator returns (NaN for cosine with a zero vector).
    #[inline]
    pub fn distance(self, a: &[f32], b: &[f32]) -> f64 {
        match self {
            Metric::L2 => distance::l2_distance(a, b),
            Metric::InnerProduct => -(distance::inner_product(a, b) as f64),
            Metric::Cosine => distance::cosine_distance(a, b),
        }
    }

    /// The metric that builds the lists (k-means) and ranks them for a query: L2 for the L2
    /// and inner-product classes (Lloyd's k-means is defined for L2; ranking lists by the
    /// inner product would favour the centroids with the largest norm), cosine for cosine
    /// (spherical k-means: unit centroids).
    pub fn list_metric(self) -> Metric {
        match self {
            Metric::Cosine => Metric::Cosine,
            _ => Metric::L2,
        }
    }

    /// Distance between a vector and a centroid under `list_metric`, except that NaN (a zero
    /// vector under cosine) counts as farthest so that such a row still lands in a list.
    #[inline]
    pub fn centroid_distance(self, a: &[f32], b: &[f32]) -> f64 {
        let d = self.list_metric().distance(a, b);
        if d.is_nan() {
            f64::INFINITY
        } else {
            d
        }
    }
}

/// Orders distances for sorting: NaN last (as Postgres orders float8 NaN above everything).
#[inline]
pub fn cmp_distance(a: f64, b: f64) -> std::cmp::Ordering {
    a.partial_cmp(&b).unwrap_or_else(|| a.is_nan().cmp(&b.is_nan()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strategies_map_to_metrics_and_codes_round_trip() {
        assert_eq!(Metric::from_strategy(3), Some(Metric::Cosine));
        assert_eq!(Metric::from_strategy(6), Some(Metric::Cosine));
        assert_eq!(Metric::from_strategy(7), None);
        for m in [Metric::L2, Metric::InnerProduct, Metric::Cosine] {
            assert_eq!(Metric::from_code(m.code()), Some(m));
        }
        assert_eq!(Metric::from_code(4), None);
    }

    #[test]
    fn distances_match_the_operators() {
        let a = [1.0f32, 0.0];
        let b = [0.0f32, 2.0];
        assert!((Metric::L2.distance(&a, &b) - 5f64.sqrt()).abs() < 1e-9);
        assert_eq!(Metric::InnerProduct.distance(&a, &b), 0.0);
        assert!((Metric::Cosine.distance(&a, &b) - 1.0).abs() < 1e-9);
        assert!(Metric::Cosine.distance(&a, &[0.0, 0.0]).is_nan());
        assert_eq!(Metric::Cosine.centroid_distance(&a, &[0.0, 0.0]), f64::INFINITY);
    }

    #[test]
    fn nan_sorts_last() {
        let mut v = [f64::NAN, 1.0, -2.0];
        v.sort_by(|a, b| cmp_distance(*a, *b));
        assert_eq!(v[0], -2.0);
        assert_eq!(v[1], 1.0);
        assert!(v[2].is_nan());
    }
}
