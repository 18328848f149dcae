//! Label votes: the end of a labelled model's embedding says which labels its nearest
//! training images have (models/label_votes.py; models/STUDY.md, session 13).
//!
//! Why: a build with `label_col` knows its training images' labels, and for a labelled
//! collection the best single hint about an image is how the training images most like it
//! are labelled. A labelled model embeds an image as concat(unit(e), 0.5 · unit(votes)),
//! where e is the encoder's embedding and votes[c] is the share of label c among the
//! `VOTERS` reference images whose unit(e) is most similar. Held-out clothes gained
//! +0.006 to +0.019 precision@4 over six builds on three draws (mean +0.015), digits were
//! level (BENCHMARKS.md, "Label votes").
//!
//! The votes are part of the model's ONNX file, so every way of embedding (convert,
//! embed_image, keep_current, combine_models) gives them: the generated graph fragment
//! `models/label_votes/fragment.pb` is appended to the trained encoder with the reference
//! images' embeddings and labels as two initializers (`encoder_file`).
use crate::engine::distance;
use crate::engine::onnx::encoder_file;
use rand::seq::index::sample;
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use std::collections::BTreeSet;

/// How many of the most similar reference images vote (fewer when there are fewer).
pub const VOTERS: usize = 20;
/// The weight of the unit-length votes beside the unit-length embedding, as the fragment has it.
pub const WEIGHT: f32 = 0.5;
/// At most this many labelled training images are kept as the reference (a seeded sample):
/// every embedding compares the image with each, and the model stores each.
pub const MAX_REFERENCE: usize = 4096;
/// Each label adds a dimension; beyond this many, votes are off.
pub const MAX_LABELS: usize = 256;
/// The encoder output the fragment adds, which a model with votes is read at.
pub const OUTPUT: &str = "labelled_embedding";

static FRAGMENT: &[u8] = include_bytes!("../../models/label_votes/fragment.pb");

/// The training images a model's votes come from, and their labels.
#[derive(Debug, PartialEq)]
pub struct Reference {
    /// Indexes into the training images, ascending.
    pub rows: Vec<usize>,
    /// The distinct labels, sorted: the order of the votes' dimensions.
    pub labels: Vec<String>,
    /// For each of `rows`, its label's index in `labels`.
    pub label_index: Vec<usize>,
}

/// The reference for training images with `labels` (None: no label), or why a model of
/// them cannot have votes.
pub fn choose_reference(labels: &[Option<String>], seed: u64) -> Result<Reference, String> {
    let labelled: Vec<usize> = (0..labels.len()).filter(|&i| labels[i].is_some()).collect();
    let rows: Vec<usize> = if labelled.len() > MAX_REFERENCE {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x766f_7465_7320_2020);
        let mut chosen: Vec<usize> =
            sample(&mut rng, labelled.len(), MAX_REFERENCE).into_iter().map(|i| labelled[i]).collect();
        chosen.sort_unstable();
        chosen
    } else {
        labelled
    };
    let distinct: BTreeSet<&str> = rows.iter().map(|&i| labels[i].as_deref().expect("labelled")).collect();
    if distinct.len() < 2 {
        return Err("the training images have fewer than two labels, so their votes would all be the same".into());
    }
    if distinct.len() > MAX_LABELS {
        return Err(format!(
            "the training images have {} labels, more than the {MAX_LABELS} that votes allow (one dimension each)",
            distinct.len()
        ));
    }
    let labels_sorted: Vec<String> = distinct.into_iter().map(str::to_string).collect();
    let label_index = rows
        .iter()
        .map(|&i| labels_sorted.binary_search(labels[i].as_ref().expect("labelled")).expect("a distinct label"))
        .collect();
    Ok(Reference { rows, labels: labels_sorted, label_index })
}

/// The fragment's two initializers for the reference images' `embeddings` (in the order
/// of `reference.rows`): their unit embeddings as a [dim, rows] matrix, and their labels
/// as one-hot rows [rows, labels], both flattened row-major.
pub fn tables(reference: &Reference, embeddings: &[Vec<f32>]) -> (Vec<f32>, Vec<f32>) {
    let rows = embeddings.len();
    let dim = embeddings.first().map_or(0, Vec::len);
    let mut unit_columns = vec![0f32; dim * rows];
    for (r, e) in embeddings.iter().enumerate() {
        let norm = distance::norm(e).max(1e-12);
        for (d, x) in e.iter().enumerate() {
            unit_columns[d * rows + r] = (*x as f64 / norm) as f32;
        }
    }
    let classes = reference.labels.len();
    let mut onehot = vec![0f32; rows * classes];
    for (r, &c) in reference.label_index.iter().enumerate() {
        onehot[r * classes + c] = 1.0;
    }
    (unit_columns, onehot)
}

/// `encoder_onnx` with the votes appended: it then also outputs `OUTPUT`, the embedding
/// followed by one dimension per label of `reference`.
pub fn append(encoder_onnx: &[u8], reference: &Reference, embeddings: &[Vec<f32>]) -> Vec<u8> {
    let (unit_columns, onehot) = tables(reference, embeddings);
    let model = encoder_file::with_graph_fragment(encoder_onnx, FRAGMENT);
    let model = encoder_file::with_initializer(&model, "label_reference", &unit_columns);
    encoder_file::with_initializer(&model, "label_onehot", &onehot)
}

/// Plain-Rust reference of what the appended fragment computes for one embedding.
pub fn votes_reference(embedding: &[f32], reference: &Reference, embeddings: &[Vec<f32>]) -> Vec<f32> {
    let unit = |v: &[f32]| {
        let n = distance::norm(v).max(1e-12);
        v.iter().map(|x| *x as f64 / n).collect::<Vec<f64>>()
    };
    let e = unit(embedding);
    let mut similar: Vec<(f64, usize)> = embeddings
        .iter()
        .enumerate()
        .map(|(r, other)| (unit(other).iter().zip(&e).map(|(a, b)| a * b).sum(), r))
        .collect();
    similar.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
    let voters = VOTERS.min(similar.len());
    let mut votes = vec![0f64; reference.labels.len()];
    for &(_, r) in &similar[..voters] {
        votes[reference.label_index[r]] += 1.0 / voters as f64;
    }
    let votes = unit(&votes.iter().map(|v| *v as f32).collect::<Vec<f32>>());
    e.iter().map(|x| *x as f32).chain(votes.iter().map(|v| (v * WEIGHT as f64) as f32)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(values: &[Option<&str>]) -> Vec<Option<String>> {
        values.iter().map(|v| v.map(str::to_string)).collect()
    }

    #[test]
    fn the_reference_is_the_labelled_images_with_their_labels_sorted() {
        let r = choose_reference(&labels(&[Some("shoe"), None, Some("bag"), Some("shoe")]), 1).unwrap();
        assert_eq!(r.rows, vec![0, 2, 3]);
        assert_eq!(r.labels, vec!["bag".to_string(), "shoe".to_string()]);
        assert_eq!(r.label_index, vec![1, 0, 1]);
    }

    #[test]
    fn votes_need_two_labels_and_at_most_max_labels() {
        let one = choose_reference(&labels(&[Some("a"), Some("a"), None]), 1).unwrap_err();
        assert!(one.contains("fewer than two labels"), "{one}");
        let many: Vec<Option<String>> = (0..=MAX_LABELS).map(|i| Some(format!("l{i}"))).collect();
        let err = choose_reference(&many, 1).unwrap_err();
        assert!(err.contains(&format!("{} labels", MAX_LABELS + 1)), "{err}");
    }

    #[test]
    fn a_large_training_set_keeps_a_seeded_sample() {
        let many: Vec<Option<String>> = (0..10_000).map(|i| Some(format!("l{}", i % 7))).collect();
        let a = choose_reference(&many, 3).unwrap();
        assert_eq!(a.rows.len(), MAX_REFERENCE);
        assert!(a.rows.windows(2).all(|w| w[0] < w[1]));
        assert_eq!(a, choose_reference(&many, 3).unwrap(), "same seed, same sample");
        assert_ne!(a.rows, choose_reference(&many, 4).unwrap().rows);
    }

    #[test]
    fn the_tables_hold_unit_columns_and_one_hot_rows() {
        let r = Reference { rows: vec![0, 1], labels: vec!["a".into(), "b".into()], label_index: vec![1, 0] };
        let (columns, onehot) = tables(&r, &[vec![3.0, 4.0], vec![0.0, 2.0]]);
        assert_eq!(columns, vec![0.6, 0.0, 0.8, 1.0]);
        assert_eq!(onehot, vec![0.0, 1.0, 1.0, 0.0]);
    }

    #[test]
    fn the_reference_votes_are_the_nearest_images_labels() {
        // Three images near (1, 0) labelled a, one near (0, 1) labelled b: (1, 0.1) gets
        // every vote of its (fewer than VOTERS) neighbours, so votes = shares 3/4 a, 1/4 b.
        let r =
            Reference { rows: vec![0, 1, 2, 3], labels: vec!["a".into(), "b".into()], label_index: vec![0, 0, 0, 1] };
        let refs = vec![vec![1.0, 0.0], vec![1.0, 0.1], vec![0.9, 0.0], vec![0.0, 1.0]];
        let v = votes_reference(&[2.0, 0.0], &r, &refs);
        assert_eq!(v.len(), 4);
        assert!((v[0] - 1.0).abs() < 1e-6 && v[1].abs() < 1e-6);
        let n = (0.75f32.powi(2) + 0.25f32.powi(2)).sqrt();
        assert!((v[2] - WEIGHT * 0.75 / n).abs() < 1e-6 && (v[3] - WEIGHT * 0.25 / n).abs() < 1e-6, "{v:?}");
    }
}
