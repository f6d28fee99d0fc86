"""The TensorFlow DCGAN tutorial's train step (seed 000), timed: our peer and our floor.

Runs in a separate virtual environment holding TensorFlow, never the project's:

    python3 -m venv /tmp/tfvenv && /tmp/tfvenv/bin/pip install tensorflow-cpu
    /tmp/tfvenv/bin/python benchmarks/tf_tutorial_step.py --steps 40 --json

The models, losses, optimisers and the ``@tf.function`` train step follow the
tutorial (Keras defaults: LeakyReLU slope 0.3, Adam 1e-4), batch 256, on
MNIST-shaped data in [-1, 1] (pixel values do not change the cost of a step).
Prints img/s as the median over windows of steps after a warm-up, like
``ganforge bench``; ``--json`` prints one JSON object last.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402
from tensorflow.keras import layers  # noqa: E402

NOISE_DIM = 100


def make_generator_model():
    return tf.keras.Sequential([
        layers.Input((NOISE_DIM,)),
        layers.Dense(7 * 7 * 256, use_bias=False), layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Reshape((7, 7, 256)),
        layers.Conv2DTranspose(128, (5, 5), strides=(1, 1), padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(64, (5, 5), strides=(2, 2), padding="same", use_bias=False),
        layers.BatchNormalization(), layers.LeakyReLU(),
        layers.Conv2DTranspose(1, (5, 5), strides=(2, 2), padding="same", use_bias=False, activation="tanh"),
    ])


def make_discriminator_model():
    return tf.keras.Sequential([
        layers.Input((28, 28, 1)),
        layers.Conv2D(64, (5, 5), strides=(2, 2), padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Conv2D(128, (5, 5), strides=(2, 2), padding="same"), layers.LeakyReLU(), layers.Dropout(0.3),
        layers.Flatten(), layers.Dense(1),
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--batch-size", type=int, default=256)
    ap.add_argument("--steps", type=int, default=40, help="timed steps (split into windows)")
    ap.add_argument("--windows", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=5)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()

    generator, discriminator = make_generator_model(), make_discriminator_model()
    cross_entropy = tf.keras.losses.BinaryCrossentropy(from_logits=True)
    generator_optimizer = tf.keras.optimizers.Adam(1e-4)
    discriminator_optimizer = tf.keras.optimizers.Adam(1e-4)
    B = args.batch_size

    @tf.function
    def train_step(images):
        noise = tf.random.normal([B, NOISE_DIM])
        with tf.GradientTape() as gen_tape, tf.GradientTape() as disc_tape:
            generated_images = generator(noise, training=True)
            real_output = discriminator(images, training=True)
            fake_output = discriminator(generated_images, training=True)
            gen_loss = cross_entropy(tf.ones_like(fake_output), fake_output)
            disc_loss = (cross_entropy(tf.ones_like(real_output), real_output)
                         + cross_entropy(tf.zeros_like(fake_output), fake_output))
        g_grads = gen_tape.gradient(gen_loss, generator.trainable_variables)
        d_grads = disc_tape.gradient(disc_loss, discriminator.trainable_variables)
        generator_optimizer.apply_gradients(zip(g_grads, generator.trainable_variables))
        discriminator_optimizer.apply_gradients(zip(d_grads, discriminator.trainable_variables))
        return gen_loss, disc_loss

    @tf.function
    def generate(noise):
        return generator(noise, training=False)

    rng = np.random.default_rng(0)
    data = tf.constant(rng.uniform(-1, 1, (16 * B, 28, 28, 1)).astype("float32"))
    batches = [data[i * B:(i + 1) * B] for i in range(16)]

    for i in range(args.warmup):
        train_step(batches[i % 16])
    per_window = max(1, args.steps // args.windows)
    train_rates = []
    for _ in range(args.windows):
        t0 = time.perf_counter()
        for i in range(per_window):
            g, d = train_step(batches[i % 16])
        float(g.numpy())
        train_rates.append(per_window * B / (time.perf_counter() - t0))
    noise = tf.random.normal([B, NOISE_DIM])
    generate(noise)
    sample_rates = []
    for _ in range(args.windows):
        t0 = time.perf_counter()
        for _ in range(per_window):
            out = generate(noise)
        out.numpy()
        sample_rates.append(per_window * B / (time.perf_counter() - t0))

    result = {
        "peer": "tensorflow-dcgan-tutorial", "tensorflow": tf.__version__, "batch_size": B,
        "train_img_per_s": round(statistics.median(train_rates), 1),
        "sample_img_per_s": round(statistics.median(sample_rates), 1),
        "train_windows": [round(r, 1) for r in train_rates],
        "threads": os.cpu_count(), "machine": platform.processor() or platform.machine(),
    }
    print(f"tensorflow {tf.__version__} tutorial step, batch {B}: train {result['train_img_per_s']:.0f} img/s "
          f"(windows {result['train_windows']}), generate {result['sample_img_per_s']:.0f} img/s")
    if args.json:
        print(json.dumps(result))


if __name__ == "__main__":
    main()
