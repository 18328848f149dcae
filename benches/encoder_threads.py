"""Encoder inference with 1 and 2 ONNX Runtime threads (no spinning, as convert's sessions),
alternating in one run: the default encoders and, if given, an imported model.
    python benches/encoder_threads.py [imported.onnx]   (3-channel 224x224 input, batch 16)
"""
import os
import sys
import time

import numpy as np
import onnxruntime as ort

MODELS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "models", "simclr_cnn")


def session(path, threads):
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.add_session_config_entry("session.intra_op.allow_spinning", "0")
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def feeds(sess, channels, size, batch):
    out = {}
    for i in sess.get_inputs():
        if i.name == "params":
            params = np.fromfile(os.path.join(MODELS, f"init_params_c{channels}.bin"), dtype="<f4")
            out[i.name] = params[:i.shape[0]]
        else:
            out[i.name] = np.random.RandomState(0).rand(batch, channels, size, size).astype(np.float32)
    return out


def main():
    cases = [(os.path.join(MODELS, "encoder_c1.onnx"), 1, 28, 64), (os.path.join(MODELS, "encoder_c3.onnx"), 3, 32, 64)]
    if len(sys.argv) > 1:
        cases.append((sys.argv[1], 3, 224, 16))
    for path, channels, size, batch in cases:
        sessions = {threads: session(path, threads) for threads in (1, 2)}
        inputs = feeds(sessions[1], channels, size, batch)
        for _ in range(4):
            row = []
            for threads, sess in sessions.items():
                runs, start = 0, time.perf_counter()
                while time.perf_counter() - start < 1.5:
                    sess.run(None, inputs)
                    runs += 1
                row.append(f"{threads} thread{'s' if threads > 1 else ''} {batch * runs / (time.perf_counter() - start):7.0f} images/s")
            print(f"{os.path.basename(path)}, batch {batch}: " + " | ".join(row), flush=True)


if __name__ == "__main__":
    main()
