//! The gradient descriptor a model's embedding can carry beside what the network
//! learnt: histograms of gradient orientations (12 directions) in a 7×7 grid of
//! cells, projected onto their 64 principal directions in the training images.
//!
//! Why: on images where shape is all there is (clothes, digits, 1,000 training
//! images), the learnt embedding alone stays near raw pixels for clothes
//! (precision@4 0.70) while this descriptor reaches 0.75–0.77; the two together
//! give 0.74–0.75 for clothes at a cost of about 0.015 on digits (models/STUDY.md,
//! session 5). Colour near-duplicates get worse with it, so `build_model` turns it
//! on by default for 1-channel models only. Its neighbours also make training
//! pairs (`engine::neighbour_positives`), which strengthens the learnt part; the
//! descriptor's weight then went from 0.7 (0.6.0) to 0.5: digits 0.941 → 0.950,
//! clothes 0.762 → 0.760 (two data draws; models/STUDY.md, session 6). Models
//! built before keep their weight: it is in their stored encoder graph.
//!
//! The graphs come from `models/gradient_descriptor.py`: `descriptor_c<C>.onnx`
//! maps images to the 588 histogram values, and each architecture's
//! `gradient_encoder_c<C>.onnx` outputs concat(unit(h), 0.5 · unit((descriptor −
//! mean) · projection)). This module fits `mean` and `projection` (one flat
//! initializer, `gradient_pca`) from the descriptors of the training images.
//!
//! A build with labels (`label_col`) whitens the 64 directions within labels instead
//! (`fit_with_labels`): the spread of images that share a label is evened out across
//! directions (regularised), so the directions along which such images differ weigh less. Measured
//! in models/STUDY.md, session 12 (the same trained models, five clothes builds over three
//! data draws): clothes +0.0045 on average (+0.001 to +0.0075, never lower), digits +0.002;
//! from Postgres (BENCHMARKS.md) labelled clothes 0.801 → 0.804 and 0.783 → 0.790.
use crate::engine::image::preprocess::Preprocessing;
use crate::engine::image::Picture;
use crate::engine::train::EpochImages;
use nalgebra::{DMatrix, SymmetricEigen};
use ort::session::Session;
use ort::value::TensorRef;
use std::collections::HashMap;

/// Values of one image's descriptor: 12 orientations × 7 × 7 cells.
pub const FEATURES: usize = 588;
/// Principal directions kept: the length the descriptor adds to the embedding.
pub const DIMS: usize = 64;
/// Name of the encoder graphs' input holding the fitted mean and projection.
pub const INITIALIZER: &str = "gradient_pca";

/// The descriptor graph for images of `channels` channels (1 or 3).
pub fn descriptor_graph(channels: u8) -> &'static [u8] {
    match channels {
        1 => include_bytes!("../../models/gradient_descriptor/descriptor_c1.onnx"),
        _ => include_bytes!("../../models/gradient_descriptor/descriptor_c3.onnx"),
    }
}

/// Images per run of the descriptor graph.
const BATCH: usize = 256;

/// Fits `gradient_pca` on one pass over `images` (epoch 0's windows) as the
/// encoder will see them (`preprocessing`), with `session` running the descriptor
/// graph; `interrupted` is called before every run.
pub fn fit(
    session: &mut Session,
    images: &mut dyn EpochImages,
    preprocessing: &Preprocessing,
    interrupted: &mut dyn FnMut(),
) -> Result<Vec<f32>, String> {
    let mut statistics = DescriptorStatistics::default();
    images
        .for_each_window(0, &mut |pictures| statistics.add_pictures(session, pictures, preprocessing, interrupted))?;
    Ok(statistics.fit())
}

/// Fits `gradient_pca` on `pictures` whose labels are `labels` (same order): the mean and
/// principal directions of `fit`, then whitened within labels (`within_label_whitening`)
/// in place of the fourth-root scaling.
pub fn fit_with_labels(
    session: &mut Session,
    pictures: &[Picture],
    labels: &[Option<String>],
    preprocessing: &Preprocessing,
    interrupted: &mut dyn FnMut(),
) -> Result<Vec<f32>, String> {
    let mut statistics = DescriptorStatistics::default();
    statistics.add_pictures(session, pictures, preprocessing, interrupted)?;
    let principal = statistics.principal_directions();
    let unscaled = principal.flat(|_| 1.0);
    let points = project(session, pictures, preprocessing, &unscaled, interrupted)?;
    Ok(within_label_whitening(&unscaled, &points, labels).unwrap_or_else(|| statistics.fit()))
}

/// The projected descriptors (DIMS values per picture) of `pictures` under a
/// fitted `gradient_pca`: what the embedding's descriptor part is, before its
/// scaling to length 0.5.
pub fn project(
    session: &mut Session,
    pictures: &[Picture],
    preprocessing: &Preprocessing,
    gradient_pca: &[f32],
    interrupted: &mut dyn FnMut(),
) -> Result<Vec<f32>, String> {
    let (mean, projection) = gradient_pca.split_at(FEATURES);
    let mut out = Vec::with_capacity(pictures.len() * DIMS);
    for batch in pictures.chunks(BATCH) {
        interrupted();
        for descriptor in descriptors(session, batch, preprocessing)?.chunks_exact(FEATURES) {
            let mut row = [0f32; DIMS];
            for ((value, mean), weights) in descriptor.iter().zip(mean).zip(projection.chunks_exact(DIMS)) {
                let centred = value - mean;
                row.iter_mut().zip(weights).for_each(|(r, w)| *r += centred * w);
            }
            out.extend_from_slice(&row);
        }
    }
    Ok(out)
}

/// The descriptor graph's output for one batch: FEATURES values per picture.
fn descriptors(session: &mut Session, batch: &[Picture], preprocessing: &Preprocessing) -> Result<Vec<f32>, String> {
    let tensor: Vec<f32> = batch.iter().flat_map(|p| preprocessing.tensor(p)).collect();
    let err = |e: ort::Error| format!("the gradient descriptor could not run: {e}");
    let input = TensorRef::from_array_view((preprocessing.shape(batch.len()), &tensor[..])).map_err(err)?;
    let outputs = session.run(ort::inputs!["images" => input]).map_err(err)?;
    let (_, values) = outputs["features"].try_extract_tensor::<f32>().map_err(err)?;
    Ok(values.to_vec())
}

/// Running sums of the training images' descriptors, for their mean and covariance.
pub struct DescriptorStatistics {
    count: usize,
    sum: Vec<f64>,
    /// Upper triangle (row-major, full rows) of the sum of outer products.
    outer: Vec<f64>,
}

impl Default for DescriptorStatistics {
    fn default() -> Self {
        DescriptorStatistics { count: 0, sum: vec![0.0; FEATURES], outer: vec![0.0; FEATURES * FEATURES] }
    }
}

impl DescriptorStatistics {
    /// Adds descriptors, FEATURES values per image.
    pub fn add(&mut self, descriptors: &[f32]) {
        for row in descriptors.chunks_exact(FEATURES) {
            let row: Vec<f64> = row.iter().map(|&v| v as f64).collect();
            for (i, &a) in row.iter().enumerate() {
                self.sum[i] += a;
                let out = &mut self.outer[i * FEATURES..(i + 1) * FEATURES];
                for (o, &b) in out[i..].iter_mut().zip(&row[i..]) {
                    *o += a * b;
                }
            }
            self.count += 1;
        }
    }

    /// Adds the descriptors of `pictures`, run through `session`'s descriptor graph in
    /// batches; `interrupted` is called before every run.
    fn add_pictures(
        &mut self,
        session: &mut Session,
        pictures: &[Picture],
        preprocessing: &Preprocessing,
        interrupted: &mut dyn FnMut(),
    ) -> Result<(), String> {
        for batch in pictures.chunks(BATCH) {
            interrupted();
            self.add(&descriptors(session, batch, preprocessing)?);
        }
        Ok(())
    }

    pub fn count(&self) -> usize {
        self.count
    }

    /// The flat `gradient_pca` initializer: the mean (FEATURES values), then the
    /// FEATURES × DIMS projection (row-major) onto the top DIMS principal
    /// directions, each divided by its eigenvalue's fourth root (partial whitening:
    /// measured better than none or full whitening).
    pub fn fit(&self) -> Vec<f32> {
        self.principal_directions().flat(|value| value.powf(-0.25))
    }

    /// The mean and the top DIMS principal directions. Directions without variance
    /// (fewer images than DIMS + 1) are left out: projecting new images onto them would
    /// only add noise. Each direction's sign is fixed (largest component positive) so
    /// the same images always give the same file.
    fn principal_directions(&self) -> PrincipalDirections {
        let n = self.count.max(1) as f64;
        let mean: Vec<f64> = self.sum.iter().map(|s| s / n).collect();
        let denominator = (self.count.max(2) - 1) as f64;
        let covariance = DMatrix::from_fn(FEATURES, FEATURES, |i, j| {
            let (i, j) = if i <= j { (i, j) } else { (j, i) };
            (self.outer[i * FEATURES + j] - n * mean[i] * mean[j]) / denominator
        });
        let eigen = SymmetricEigen::new(covariance);
        let mut order: Vec<usize> = (0..FEATURES).collect();
        order.sort_by(|&a, &b| eigen.eigenvalues[b].total_cmp(&eigen.eigenvalues[a]).then(a.cmp(&b)));
        let largest = eigen.eigenvalues[order[0]].max(1e-30);
        let directions = order
            .iter()
            .take(DIMS)
            .map(|&k| {
                let value = eigen.eigenvalues[k];
                (value > 1e-6 * largest).then(|| {
                    let vector = eigen.eigenvectors.column(k);
                    let pivot =
                        (0..FEATURES).max_by(|&a, &b| vector[a].abs().total_cmp(&vector[b].abs()).then(b.cmp(&a)));
                    let sign = if vector[pivot.unwrap_or(0)] < 0.0 { -1.0 } else { 1.0 };
                    (value, vector.iter().map(|v| v * sign).collect())
                })
            })
            .collect();
        PrincipalDirections { mean, directions }
    }
}

/// The training descriptors' mean and top DIMS principal directions (eigenvalue and unit
/// vector), by decreasing variance; `None` for a direction without variance.
struct PrincipalDirections {
    mean: Vec<f64>,
    directions: Vec<Option<(f64, Vec<f64>)>>,
}

impl PrincipalDirections {
    /// The flat `gradient_pca`: the mean, then the projection whose column k is direction
    /// k times `scale(its eigenvalue)`, or zeros for a direction without variance.
    fn flat(&self, scale: impl Fn(f64) -> f64) -> Vec<f32> {
        let mut out: Vec<f32> = self.mean.iter().map(|&m| m as f32).collect();
        let mut projection = vec![0f32; FEATURES * DIMS];
        for (column, (value, vector)) in self.directions.iter().enumerate().filter_map(|(c, d)| Some((c, d.as_ref()?)))
        {
            let factor = scale(*value);
            for row in 0..FEATURES {
                projection[row * DIMS + column] = (vector[row] * factor) as f32;
            }
        }
        out.extend(projection);
        out
    }
}

/// Regularisation of the within-label whitening: each direction's within-label variance
/// is raised by this share of their mean before it is divided out, so directions along
/// which labelled images hardly vary are not blown up. Chosen from 0.01, 0.1, 0.3 and 1
/// on the clothes and digits training draws (models/STUDY.md, session 12).
const WITHIN_LABEL_SHRINK: f64 = 0.1;

/// `unscaled` (a flat `gradient_pca` of unit directions) whitened within labels: its
/// projection times (S + `WITHIN_LABEL_SHRINK` · mean eigenvalue of S · I)^(-1/2), where S
/// is the covariance of `points` (DIMS values per image, projected by `unscaled`) about
/// their label's mean. Rows without a label are left out of S. `None` when fewer than two
/// labels have two images or more: with one, S is the whole spread and this would whiten
/// fully (measured worse than `fit`'s fourth root); with none, nothing varies within a
/// label.
fn within_label_whitening(unscaled: &[f32], points: &[f32], labels: &[Option<String>]) -> Option<Vec<f32>> {
    let mut groups: HashMap<&str, (usize, [f64; DIMS])> = HashMap::new();
    for (point, label) in points.chunks_exact(DIMS).zip(labels) {
        if let Some(label) = label {
            let (count, sum) = groups.entry(label.as_str()).or_insert((0, [0.0; DIMS]));
            *count += 1;
            sum.iter_mut().zip(point).for_each(|(s, &p)| *s += p as f64);
        }
    }
    if groups.values().filter(|(count, _)| *count >= 2).count() < 2 {
        return None;
    }
    let mut scatter = DMatrix::<f64>::zeros(DIMS, DIMS);
    // The labelled images' whole spread (sum of squares), to tell "equal within every
    // label" from a small scale.
    let mut spread = 0f64;
    let mut labelled = 0usize;
    for (point, label) in points.chunks_exact(DIMS).zip(labels) {
        let Some((count, sum)) = label.as_ref().map(|l| groups[l.as_str()]) else { continue };
        let centred: Vec<f64> = point.iter().zip(&sum).map(|(&p, s)| p as f64 - s / count as f64).collect();
        for i in 0..DIMS {
            for j in 0..DIMS {
                scatter[(i, j)] += centred[i] * centred[j];
            }
        }
        spread += point.iter().map(|&p| (p as f64).powi(2)).sum::<f64>();
        labelled += 1;
    }
    let eigen = SymmetricEigen::new(scatter / labelled.max(1) as f64);
    let mean_variance = eigen.eigenvalues.mean();
    if mean_variance.is_nan() || mean_variance <= 1e-9 * spread / (labelled.max(1) * DIMS) as f64 {
        return None;
    }
    let shrink = WITHIN_LABEL_SHRINK * mean_variance;
    let inverse_root = DMatrix::from_diagonal(&eigen.eigenvalues.map(|v| (v.max(0.0) + shrink).powf(-0.5)));
    let whitening = &eigen.eigenvectors * inverse_root * eigen.eigenvectors.transpose();
    let (mean, projection) = unscaled.split_at(FEATURES);
    let mut out = mean.to_vec();
    for row in projection.chunks_exact(DIMS) {
        out.extend((0..DIMS).map(|c| (0..DIMS).map(|k| row[k] as f64 * whitening[(k, c)]).sum::<f64>() as f32));
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn projected(pca: &[f32], descriptor: &[f32]) -> Vec<f64> {
        let (mean, projection) = pca.split_at(FEATURES);
        (0..DIMS)
            .map(|c| (0..FEATURES).map(|r| (descriptor[r] - mean[r]) as f64 * projection[r * DIMS + c] as f64).sum())
            .collect()
    }

    /// Descriptors that vary along two known directions with known variances.
    fn two_direction_samples(n: usize) -> Vec<f32> {
        let mut out = Vec::with_capacity(n * FEATURES);
        for i in 0..n {
            let a = ((i % 7) as f32 - 3.0) * 2.0; // variance along feature 5: large
            let b = ((i % 3) as f32 - 1.0) * 0.5; // along feature 100: small
            for f in 0..FEATURES {
                out.push(
                    0.25 + if f == 5 {
                        a
                    } else if f == 100 {
                        b
                    } else {
                        0.0
                    },
                );
            }
        }
        out
    }

    #[test]
    fn the_fit_finds_the_mean_and_the_directions_by_variance() {
        let mut stats = DescriptorStatistics::default();
        let samples = two_direction_samples(210);
        stats.add(&samples[..100 * FEATURES]);
        stats.add(&samples[100 * FEATURES..]);
        assert_eq!(stats.count(), 210);
        let pca = stats.fit();
        assert_eq!(pca.len(), FEATURES * (DIMS + 1));
        assert!((pca[0] - 0.25).abs() < 1e-6 && (pca[5] - 0.25).abs() < 1e-5);
        let (_, projection) = pca.split_at(FEATURES);
        // first direction = feature 5, second = feature 100, both with a positive sign
        assert!(projection[5 * DIMS] > 0.0 && projection[100 * DIMS + 1] > 0.0);
        assert_eq!(projection[100 * DIMS], 0.0);
        // each scaled by the eigenvalue's fourth root
        let variance_a = samples.chunks_exact(FEATURES).map(|r| ((r[5] - 0.25) as f64).powi(2)).sum::<f64>() / 209.0;
        assert!((projection[5 * DIMS] as f64 - variance_a.powf(-0.25)).abs() < 1e-4);
        // only two directions have variance: the other 62 columns are zero
        let nonzero_columns = (0..DIMS).filter(|&c| (0..FEATURES).any(|r| projection[r * DIMS + c] != 0.0)).count();
        assert_eq!(nonzero_columns, 2);
        let z = projected(&pca, &samples[..FEATURES]);
        assert!(z[2..].iter().all(|&v| v == 0.0));
    }

    /// A flat `gradient_pca` with mean zero whose projection keeps the first DIMS features.
    fn first_features() -> Vec<f32> {
        let mut flat = vec![0f32; FEATURES * (DIMS + 1)];
        (0..DIMS).for_each(|k| flat[FEATURES + k * DIMS + k] = 1.0);
        flat
    }

    /// Points (DIMS values each) of two labels: spread 10 times wider along dimensions 0
    /// to 3, which say nothing about the label, than the labels' distance along dimension 4.
    fn two_labels(n: usize) -> (Vec<f32>, Vec<Option<String>>) {
        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        let mut uniform = move || {
            state = state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
            ((state >> 40) as f32 / (1u64 << 24) as f32) * 2.0 - 1.0
        };
        let mut points = Vec::with_capacity(n * DIMS);
        for i in 0..n {
            let side = if i % 2 == 0 { -0.5 } else { 0.5 };
            points.extend((0..DIMS).map(|k| match k {
                0..=3 => uniform() * 5.0,
                4 => side + uniform() * 0.1,
                _ => uniform() * 0.01,
            }));
        }
        (points, (0..n).map(|i| Some(format!("label {}", i % 2))).collect())
    }

    /// The share of points whose nearest other point by cosine, after `flat`, has their label.
    fn nearest_has_the_label(flat: &[f32], points: &[f32], labels: &[Option<String>]) -> f64 {
        let rows: Vec<Vec<f64>> = points
            .chunks_exact(DIMS)
            .map(|p| {
                let mut descriptor = vec![0f32; FEATURES];
                descriptor[..DIMS].copy_from_slice(p);
                let z = projected(flat, &descriptor);
                let norm = z.iter().map(|v| v * v).sum::<f64>().sqrt().max(1e-12);
                z.iter().map(|v| v / norm).collect()
            })
            .collect();
        let cosine = |a: &[f64], b: &[f64]| a.iter().zip(b).map(|(x, y)| x * y).sum::<f64>();
        let hits = (0..rows.len())
            .filter(|&i| {
                let nearest = (0..rows.len())
                    .filter(|&j| j != i)
                    .max_by(|&a, &b| cosine(&rows[i], &rows[a]).total_cmp(&cosine(&rows[i], &rows[b])))
                    .unwrap();
                labels[nearest] == labels[i]
            })
            .count();
        hits as f64 / rows.len() as f64
    }

    #[test]
    fn whitening_within_labels_weighs_down_what_labelled_images_differ_in() {
        let (points, labels) = two_labels(200);
        let unscaled = first_features();
        let whitened = within_label_whitening(&unscaled, &points, &labels).unwrap();
        assert_eq!(whitened.len(), unscaled.len());
        let before = nearest_has_the_label(&unscaled, &points, &labels);
        let after = nearest_has_the_label(&whitened, &points, &labels);
        assert!(before < 0.7, "{before}");
        assert!(after > 0.95, "{after}");
        // The same points and labels give the same file.
        assert_eq!(within_label_whitening(&unscaled, &points, &labels).unwrap(), whitened);
    }

    #[test]
    fn rows_without_a_label_are_left_out_and_fewer_than_two_shared_labels_give_nothing_to_whiten() {
        let (points, mut labels) = two_labels(200);
        let unscaled = first_features();
        let whitened = within_label_whitening(&unscaled, &points, &labels).unwrap();
        // Two more points far out on dimension 4, unlabelled: the same whitening.
        let mut more = points.clone();
        more.extend((0..2 * DIMS).map(|k| if k % DIMS == 4 { 1e3 } else { 0.0 }));
        labels.extend([None, None]);
        assert_eq!(within_label_whitening(&unscaled, &more, &labels).unwrap(), whitened);
        // Every image its own label: nothing varies within a label.
        let unique: Vec<Option<String>> = (0..200).map(|i| Some(i.to_string())).collect();
        assert!(within_label_whitening(&unscaled, &points, &unique).is_none());
        // One label for all (or one label shared and the rest unique): no within-label
        // spread to tell from the whole spread.
        assert!(within_label_whitening(&unscaled, &points, &vec![Some("a".to_string()); 200]).is_none());
        let one_shared: Vec<Option<String>> =
            (0..200).map(|i| Some(if i < 10 { "a".to_string() } else { i.to_string() })).collect();
        assert!(within_label_whitening(&unscaled, &points, &one_shared).is_none());
        assert!(within_label_whitening(&unscaled, &points, &vec![None; 200]).is_none());
    }

    #[test]
    fn the_same_images_give_the_same_fit() {
        let samples: Vec<f32> = (0..40 * FEATURES).map(|i| ((i * 7919) % 1013) as f32 / 1013.0).collect();
        let fit = |rows: &[f32]| {
            let mut s = DescriptorStatistics::default();
            s.add(rows);
            s.fit()
        };
        assert_eq!(fit(&samples), fit(&samples));
        // 40 images: at most 39 directions have variance
        let pca = fit(&samples);
        let projection = &pca[FEATURES..];
        let nonzero_columns = (0..DIMS).filter(|&c| (0..FEATURES).any(|r| projection[r * DIMS + c] != 0.0)).count();
        assert!(nonzero_columns <= 39, "{nonzero_columns}");
    }
}
