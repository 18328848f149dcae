//! `combine_models`: a model whose embedding is the concatenation of other models'
//! embeddings, each scaled to unit length and then by its weight (algorithm 'concat').
//!
//! Why: a model trained here on a thousand images and an encoder pretrained on millions
//! (imported with `import_model`) are right about different things, and their
//! concatenation finds near-duplicates and classes better than either (BENCHMARKS.md,
//! "Combined models": colour near-duplicates 0.84 and 0.96 apart, 0.99 together).
//!
//! A combined model stores no encoder of its own, only its parts' names, the `build_id`
//! each had when it was combined, and the weights. Embedding an image runs every part on
//! the same decoded picture. A part that has since been rebuilt or replaced would give
//! embeddings that no longer match the ones already stored, so using the combined model
//! then is an ERROR; a part cannot be dropped while a combined model uses it.
use crate::embedding::text::MAX_DIM;
use crate::engine::distance;
use crate::engine::onnx::imported::EncoderConfig;
use crate::error::invalid;
use crate::model::catalog::{self, Model, NewModel};
use pgrx::prelude::*;
use serde::{Deserialize, Serialize};

/// The catalog's `algorithm` (and `architecture`) of combined models; also the suffix of
/// their embedding column. Short, so that the longest model name's similarity columns
/// still fit in an identifier (see `catalog::MAX_NAME_BYTES`).
pub const ALGORITHM: &str = "concat";

/// One part of a combined model, as stored in the catalog row's `options -> 'parts'`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Part {
    pub name: String,
    /// The part's build when it was combined: the combined model is only valid for it.
    pub build_id: i64,
    pub embedding_dim: usize,
    pub weight: f32,
    /// The shorter side its encoder needs a decoded picture to have.
    pub needed_side: u32,
}

/// One weight per model: 1 each when none are given; otherwise positive finite numbers.
pub fn weights(models: usize, given: Option<Vec<Option<f64>>>) -> Result<Vec<f32>, String> {
    let Some(given) = given else { return Ok(vec![1.0; models]) };
    if given.len() != models {
        return Err(format!("weights has {} value(s) and models has {models}; give one weight per model", given.len()));
    }
    given
        .into_iter()
        .map(|w| match w {
            Some(w) if w.is_finite() && w > 0.0 => Ok(w as f32),
            Some(w) => Err(format!("weights must be positive finite numbers, not {w}")),
            None => Err("weights cannot contain NULL".to_string()),
        })
        .collect()
}

/// Each image's embedding: its parts' embeddings (`per_part[p][image]`), each made unit
/// length (a zero vector stays zero) and multiplied by the part's weight, one after the
/// other.
pub fn concatenate(parts: &[Part], per_part: &[Vec<Vec<f32>>]) -> Vec<Vec<f32>> {
    let images = per_part.first().map_or(0, Vec::len);
    let dim: usize = parts.iter().map(|p| p.embedding_dim).sum();
    (0..images)
        .map(|i| {
            let mut out = Vec::with_capacity(dim);
            for (part, vectors) in parts.iter().zip(per_part) {
                let v = &vectors[i];
                let norm = distance::norm(v);
                let scale = if norm > 0.0 { part.weight as f64 / norm } else { 0.0 };
                out.extend(v.iter().map(|x| (*x as f64 * scale) as f32));
            }
            out
        })
        .collect()
}

/// Why a combined model cannot run now that `current` (None: dropped) has replaced
/// the part it was combined with, if it cannot.
pub fn check_part(model_name: &str, part: &Part, current: Option<&Model>) -> Result<(), String> {
    match current {
        Some(m) if m.build_id == part.build_id => Ok(()),
        Some(_) => Err(format!(
            "model \"{model_name}\" combines model \"{}\", which has been rebuilt or replaced since; \
             combine the models again (overwrite => true) and convert again",
            part.name
        )),
        None => Err(format!("model \"{model_name}\" combines model \"{}\", which no longer exists", part.name)),
    }
}

/// Combines existing models into `model_name`: its embedding is their embeddings, each
/// unit length times its weight, concatenated in the order given.
// pgrx reads the result columns' names from name!() in the signature, so no type alias.
#[allow(clippy::type_complexity)]
#[pg_extern(volatile, parallel_unsafe, requires = ["models_catalog"])]
fn combine_models(
    model_name: &str,
    models: Vec<Option<String>>,
    weights: default!(Option<Vec<Option<f64>>>, "NULL"),
    overwrite: default!(bool, false),
) -> TableIterator<'static, (name!(model_name, String), name!(embedding_dim, i32), name!(embedding_column, String))> {
    let started = std::time::Instant::now();
    let names: Vec<String> =
        models.into_iter().map(|m| m.unwrap_or_else(|| invalid("models cannot contain NULL"))).collect();
    if names.len() < 2 {
        invalid(format!("combine_models needs at least two models, and models has {}", names.len()));
    }
    if let Some(dup) = names.iter().enumerate().find(|(i, n)| names[..*i].contains(n)).map(|(_, n)| n) {
        invalid(format!("model \"{dup}\" appears twice in models"));
    }
    let weights = self::weights(names.len(), weights).unwrap_or_else(|e| invalid(e));
    if names.iter().any(|n| n == model_name) {
        invalid(format!("model \"{model_name}\" cannot be one of its own parts"));
    }
    catalog::claim_name(model_name, overwrite);
    let found: Vec<Model> = names.iter().map(|n| Model::get(n)).collect();
    if let Some(nested) = found.iter().find(|m| m.algorithm == ALGORITHM) {
        invalid(format!("model \"{}\" is itself combined; combine its parts instead", nested.name));
    }
    let parts: Vec<Part> = found
        .iter()
        .zip(&weights)
        .map(|(m, &weight)| Part {
            name: m.name.clone(),
            build_id: m.build_id,
            embedding_dim: m.embedding_dim,
            weight,
            needed_side: m.needed_side(),
        })
        .collect();
    let dim: usize = parts.iter().map(|p| p.embedding_dim).sum();
    if dim > MAX_DIM {
        invalid(format!("the combined embedding would have {dim} dimensions; an embedding has at most {MAX_DIM}"));
    }
    catalog::store(NewModel {
        name: model_name,
        algorithm: ALGORITHM,
        architecture: ALGORITHM,
        channels: found.iter().map(|m| m.channels).max().unwrap_or(1),
        image_size: found.iter().map(|m| m.image_size).max().unwrap_or(1),
        embedding_dim: dim,
        options: serde_json::json!({ "parts": &parts }),
        encoder_onnx: &[],
        epoch_log: serde_json::json!([]),
        rows_used: 0,
        seconds: started.elapsed().as_secs_f64(),
        encoder_config: &EncoderConfig::trained(),
    });
    TableIterator::once((model_name.to_string(), dim as i32, catalog::embedding_column(model_name, ALGORITHM)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn part(name: &str, dim: usize, weight: f32) -> Part {
        Part { name: name.into(), build_id: 1, embedding_dim: dim, weight, needed_side: 28 }
    }

    #[test]
    fn each_part_is_unit_length_times_its_weight() {
        let parts = [part("a", 2, 1.0), part("b", 3, 0.5)];
        let per_part = vec![vec![vec![3.0, 4.0], vec![0.0, 2.0]], vec![vec![0.0, 0.0, 9.0], vec![1.0, 1.0, 1.0]]];
        let out = concatenate(&parts, &per_part);
        assert_eq!(out.len(), 2);
        let close = |a: &[f32], b: &[f32]| a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-6) && a.len() == b.len();
        assert!(close(&out[0], &[0.6, 0.8, 0.0, 0.0, 0.5]), "{:?}", out[0]);
        let third = 0.5 / 3f32.sqrt();
        assert!(close(&out[1], &[0.0, 1.0, third, third, third]), "{:?}", out[1]);
    }

    #[test]
    fn a_zero_part_stays_zero() {
        let parts = [part("a", 2, 1.0), part("b", 1, 1.0)];
        let out = concatenate(&parts, &[vec![vec![0.0, 0.0]], vec![vec![-2.0]]]);
        assert_eq!(out, vec![vec![0.0, 0.0, -1.0]]);
    }

    #[test]
    fn weights_default_to_one_and_are_checked() {
        assert_eq!(weights(3, None).unwrap(), vec![1.0; 3]);
        assert_eq!(weights(2, Some(vec![Some(0.5), Some(2.0)])).unwrap(), vec![0.5, 2.0]);
        assert!(weights(2, Some(vec![Some(1.0)])).unwrap_err().contains("one weight per model"));
        assert!(weights(1, Some(vec![Some(0.0)])).unwrap_err().contains("positive"));
        assert!(weights(1, Some(vec![Some(f64::NAN)])).unwrap_err().contains("positive"));
        assert!(weights(1, Some(vec![None])).unwrap_err().contains("NULL"));
    }
}
