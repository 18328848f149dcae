//! Tests of `plan` (on the fixtures' declared signatures) and `readout`.
use super::*;
use crate::engine::onnx::inspect::inspect;

macro_rules! signature {
    ($name:literal) => {
        inspect(include_bytes!(concat!("../../../test/data/onnx/", $name, ".onnx"))).unwrap()
    };
}

fn defaults() -> ImportOptions {
    ImportOptions {
        resize: "center_crop".into(),
        channel_order: "RGB".into(),
        value_range: "0..1".into(),
        layout: "NCHW".into(),
        pooling: "average".into(),
        ..ImportOptions::default()
    }
}

#[test]
fn defaults_come_from_the_model_and_imagenet() {
    let e = plan(&signature!("conv_dynamic"), &defaults()).unwrap();
    assert_eq!((e.preprocessing.image_size, e.preprocessing.channels), (32, 3));
    assert_eq!((e.config.input.as_str(), e.config.output.as_str()), ("pixels", "features"));
    assert_eq!(e.config.mean, IMAGENET_MEAN.to_vec());
    assert_eq!(e.config.batch_size, None);
    assert_eq!(e.batch_size(), MAX_BATCH);
    let one = plan(&signature!("conv_batch1"), &defaults()).unwrap();
    assert_eq!((one.config.batch_size, one.batch_size()), (Some(1), 1));
    let gray =
        plan(&signature!("gray_any_size"), &ImportOptions { value_range: "0..255".into(), ..defaults() }).unwrap();
    assert_eq!((gray.preprocessing.image_size, gray.preprocessing.channels), (DEFAULT_IMAGE_SIZE, 1));
    assert_eq!(gray.config.mean, vec![0.449 * 255.0]);
    let big = plan(&signature!("gray_any_size"), &ImportOptions { image_size: Some(1024), ..defaults() }).unwrap();
    assert_eq!(big.batch_size(), 4, "large inputs run in small batches");
}

#[test]
fn each_mismatch_names_the_option_that_fixes_it() {
    let cases: Vec<(ImportOptions, &str, &str)> = vec![
        (
            defaults(),
            "conv_nhwc",
            "has 32 channels in layout NCHW; image_search feeds 1 or 3 channels: pass layout => 'NHWC'",
        ),
        (ImportOptions { image_size: Some(64), ..defaults() }, "conv_dynamic", "pass image_size => 32 or leave it out"),
        (ImportOptions { channels: Some(1), ..defaults() }, "conv_dynamic", "pass channels => 3 or leave it out"),
        (defaults(), "two_outputs", "the model has 2 outputs (logits, features); pass output_name =>"),
        (
            ImportOptions { output_name: Some("nope".into()), ..defaults() },
            "two_outputs",
            "no output \"nope\"; pass output_name => one of: logits, features",
        ),
        (defaults(), "two_inputs", "the model has 2 inputs (pixels, mask)"),
        (defaults(), "text_input", "input \"caption\" is a string tensor"),
        (defaults(), "flat_input", "input \"pixels\" [batch, 3072] has rank 2"),
        (defaults(), "batch4", "has a fixed batch size of 4"),
        (
            ImportOptions { layout: "CHW".into(), ..defaults() },
            "conv_dynamic",
            "layout must be one of 'NCHW', 'NHWC', not 'CHW'",
        ),
        (
            ImportOptions { pooling: "sum".into(), ..defaults() },
            "conv_dynamic",
            "pooling must be one of 'average', 'max', 'first'",
        ),
        (
            ImportOptions { mean: Some(vec![0.5, 0.5]), ..defaults() },
            "conv_dynamic",
            "mean must have 1 value or one per channel (3)",
        ),
        (
            ImportOptions { image_size: Some(2000), ..defaults() },
            "gray_any_size",
            "image_size must be between 8 and 1024",
        ),
    ];
    let signatures = [
        ("conv_nhwc", signature!("conv_nhwc")),
        ("conv_dynamic", signature!("conv_dynamic")),
        ("two_outputs", signature!("two_outputs")),
        ("two_inputs", signature!("two_inputs")),
        ("text_input", signature!("text_input")),
        ("flat_input", signature!("flat_input")),
        ("batch4", signature!("batch4")),
        ("gray_any_size", signature!("gray_any_size")),
    ];
    for (options, model, wanted) in cases {
        let sig = &signatures.iter().find(|(n, _)| *n == model).unwrap().1;
        let err = plan(sig, &options).unwrap_err();
        assert!(err.contains(wanted), "{model}: {err}");
    }
    let nhwc = plan(&signature!("conv_nhwc"), &ImportOptions { layout: "nhwc".into(), ..defaults() }).unwrap();
    assert_eq!(nhwc.preprocessing.shape(2), [2, 32, 32, 3]);
}

#[test]
fn the_trained_config_round_trips_through_json() {
    let json = serde_json::to_value(EncoderConfig::trained()).unwrap();
    assert_eq!(
        json,
        serde_json::json!({"input": "images", "output": "embedding", "layout": "NCHW", "resize": "center_crop",
            "channel_order": "RGB", "value_range": "0..1", "mean": [0.0], "std": [1.0], "pooling": "average",
            "batch_size": null})
    );
    let back: EncoderConfig = serde_json::from_value(json).unwrap();
    let encoder = Encoder::new(back, 28, 1).unwrap();
    assert_eq!(encoder.preprocessing, Preprocessing::trained(28, 1));
}

#[test]
fn readout_splits_and_pools() {
    let flat: Vec<f32> = (0..6).map(|v| v as f32).collect();
    assert_eq!(
        readout("o", &[2, 3], &flat, 2, Layout::Nchw, Pooling::Average).unwrap(),
        vec![vec![0., 1., 2.], vec![3., 4., 5.]]
    );
    // [1, C=2, H=1, W=2] NCHW: channel 0 = [0, 1], channel 1 = [2, 3].
    let map = [0., 1., 2., 3.];
    assert_eq!(readout("o", &[1, 2, 1, 2], &map, 1, Layout::Nchw, Pooling::Average).unwrap(), vec![vec![0.5, 2.5]]);
    assert_eq!(readout("o", &[1, 2, 1, 2], &map, 1, Layout::Nchw, Pooling::Max).unwrap(), vec![vec![1., 3.]]);
    // The same numbers as NHWC [1, H=1, W=2, C=2]: position 0 = [0, 1], position 1 = [2, 3].
    assert_eq!(readout("o", &[1, 1, 2, 2], &map, 1, Layout::Nhwc, Pooling::Average).unwrap(), vec![vec![1., 2.]]);
    // Tokens [1, T=2, D=2]: the first token, or their mean.
    assert_eq!(readout("o", &[1, 2, 2], &map, 1, Layout::Nchw, Pooling::First).unwrap(), vec![vec![0., 1.]]);
    assert_eq!(readout("o", &[1, 2, 2], &map, 1, Layout::Nchw, Pooling::Average).unwrap(), vec![vec![1., 2.]]);
}

#[test]
fn readout_refuses_outputs_that_are_not_per_image() {
    let err = readout("f", &[1, 16], &[0.0; 16], 2, Layout::Nchw, Pooling::Average).unwrap_err();
    assert!(err.contains("shape [1, 16] for a batch of 2 image(s): not one vector per image"), "{err}");
    let err = readout("f", &[2], &[0.0; 2], 2, Layout::Nchw, Pooling::Average).unwrap_err();
    assert!(err.contains("one number, not a vector,"), "{err}");
    assert!(readout("f", &[1, 1, 1, 1, 1], &[0.0], 1, Layout::Nchw, Pooling::Average)
        .unwrap_err()
        .contains("rank 3 or 4"));
    assert!(readout("f", &[1, 0], &[], 1, Layout::Nchw, Pooling::Average).unwrap_err().contains("empty"));
}
